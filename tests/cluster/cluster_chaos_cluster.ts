/**
 * Chaos on a Redis Cluster (issue 22): SIGKILL of the master holding the most keys while two
 * workers index a corpus and WebSocket clients on a second API process follow the operation
 * (failover_chaos_scenario.ts). Starts a cluster of its own (three masters, three replicas,
 * `cluster-node-timeout` 1 s) since it kills a node. Run by `deno task test:cluster:chaos`.
 */
import { masterNodes, nodeAddress } from "../../shared/redis/redis.ts";
import { startRedisCluster } from "../../shared/testing/redis_cluster.ts";
import { WAIT_MS, waitFor } from "../../shared/testing/wait.ts";
import { runFailoverChaos } from "./failover_chaos_scenario.ts";

const NODE_TIMEOUT_MS = 1000;

Deno.test("chaos on a Redis Cluster: SIGKILL the master with the most keys mid-operation", async () => {
  const cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS });
  try {
    await runFailoverChaos({
      title: "Redis Cluster: SIGKILL the master with the most keys mid-operation",
      redisTarget: cluster.target,
      async victim(system) {
        const sizes = await Promise.all(
          masterNodes(system.redisClient).map(async (node) => ({
            port: Number(nodeAddress(node).split(":").pop()),
            keys: Number(await node.dbsize()),
          })),
        );
        sizes.sort((a, b) => b.keys - a.keys);
        const total = sizes.reduce((n, s) => n + s.keys, 0);
        return {
          port: sizes[0]!.port,
          why: `master with the most keys (${
            sizes.map((s) => `${s.port}: ${s.keys}`).join(", ")
          } of ${total})`,
        };
      },
      kill: (port) => cluster.kill(port),
      async waitForFailover(victim) {
        // The victim is flagged failed after the node timeout; its replica then waits up to
        // about a second (rank and random delay) and asks for votes. An election without a
        // majority is tried again after 2 x max(2 x node timeout, 2 s): allow two retries.
        const deadline = NODE_TIMEOUT_MS + 2 * 2 * Math.max(2 * NODE_TIMEOUT_MS, 2000) + WAIT_MS;
        const masters = await waitFor(
          `a replica to replace master ${victim} (node timeout ${NODE_TIMEOUT_MS} ms)`,
          async () => {
            const m = await cluster.masters().catch((): number[] => []);
            return m.length === 3 && !m.includes(victim) ? m : undefined;
          },
          { timeoutMs: deadline },
        );
        await cluster.waitHealthy(deadline);
        return `masters ${masters.join(", ")}`;
      },
    });
  } finally {
    await cluster.stop();
  }
});
