/**
 * Chaos with Sentinel (issue 22): one master, one replica and three sentinels
 * (`down-after-milliseconds` 1 s, `failover-timeout` 2 s); the master is SIGKILLed while two
 * workers index a corpus and WebSocket clients on a second API process follow the operation
 * (failover_chaos_scenario.ts). Every process reaches Redis through the sentinels
 * (`REDIS_SENTINELS`, `REDIS_SENTINEL_NAME`). Run by `deno task test:cluster:chaos`.
 */
import { startRedisSentinel } from "../../shared/testing/redis_cluster.ts";
import { WAIT_MS, waitFor } from "../../shared/testing/wait.ts";
import { runFailoverChaos } from "./failover_chaos_scenario.ts";

const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 2000;

Deno.test("chaos with Sentinel: SIGKILL the master mid-operation", async () => {
  const sentinel = await startRedisSentinel({
    downAfterMs: DOWN_AFTER_MS,
    failoverTimeoutMs: FAILOVER_TIMEOUT_MS,
  });
  try {
    await runFailoverChaos({
      title: "Sentinel: SIGKILL the master mid-operation",
      redisTarget: sentinel.target,
      seed: 2,
      async victim() {
        return { port: await sentinel.masterPort(), why: "master" };
      },
      kill: (port) => sentinel.kill(port),
      async waitForFailover(victim) {
        // Down after DOWN_AFTER_MS, then a quorum, a leader election among the sentinels and
        // the promotion. An election without a majority (split votes; seen on this loaded
        // machine) is tried again 2 x failover-timeout later: allow three rounds.
        const port = await waitFor(
          `the sentinels to promote the replica (down-after ${DOWN_AFTER_MS} ms)`,
          async () => {
            const p = await sentinel.masterPort().catch(() => undefined);
            return p !== undefined && p !== victim ? p : undefined;
          },
          { timeoutMs: DOWN_AFTER_MS + 3 * 2 * FAILOVER_TIMEOUT_MS + WAIT_MS },
        );
        return `the replica on port ${port}`;
      },
    });
  } finally {
    await sentinel.stop();
  }
});
