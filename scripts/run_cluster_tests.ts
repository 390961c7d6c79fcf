/**
 * `deno task test:cluster [deno test options]`: starts a local Redis Cluster (three masters, three
 * replicas: shared/testing/redis_cluster.ts), runs the queue, events, hub and end-to-end
 * WebSocket suites against it (`TEST_REDIS_CLUSTER_NODES`, honoured by the test helpers), then
 * a cluster failover and a Sentinel failover test, and stops the cluster. A redis-server a test
 * started and left running (its process died before its cleanup) is killed at the end. Postgres and the rest
 * come from `deno task test` (scripts/run_tests.ts).
 */
import {
  reapRedisServers,
  REDIS_PID_DIR_ENV,
  startRedisCluster,
} from "../shared/testing/redis_cluster.ts";

/** The suites that run on the cluster. */
export const CLUSTER_SUITES = [
  "shared/redis/redis_test.ts",
  "shared/queue/queue_test.ts",
  "shared/queue/queue_worker_test.ts",
  "shared/events/event_publisher_test.ts",
  "api/ws/operation_hub_test.ts",
  "api/ws/operation_watch_test.ts",
  "tests/redis_script_slots_test.ts",
  // The login rate limiter's script (both counters under the address's hash tag).
  "api/auth/rate_limiter_test.ts",
  // One command connection shared by two queues' workers (different slots), cancellation over
  // pub/sub, replies, and cleanup's SCAN of the event keys.
  "worker/worker_runtime_test.ts",
  "tests/operation_task_test.ts",
  "tests/queue_replies_test.ts",
  "worker/maintenance/cleanup_operations_test.ts",
  "tests/queue_processes_test.ts",
  "tests/ws_operations_test.ts",
  // REDIS_WAIT_REPLICAS: WAIT reaches the key's master and its replica acknowledges.
  "tests/redis_wait_replicas_test.ts",
  // One hub per API process, 200 sockets on one operation.
  "tests/ws_fanout_test.ts",
  // Indexing through a worker whose `default` and `embed` queues sit on different masters.
  "tests/indexing_delete_test.ts",
  // Start topologies of their own: a cluster whose replicas must hold what their masters
  // acknowledged; a cluster whose queue master is killed; one master, one replica and three
  // sentinels.
  "tests/cluster/redis_cluster_harness_cluster.ts",
  "tests/cluster/cluster_failover_cluster.ts",
  "tests/cluster/sentinel_failover_cluster.ts",
];

/**
 * Runs `deno task test` on `suites` with `env`, and afterwards kills every redis-server the tests
 * started and left running (a test process that died before its cleanup). Returns the exit code.
 */
export async function runSuites(
  suites: readonly string[],
  options: { args: readonly string[]; env?: Record<string, string>; label: string },
): Promise<number> {
  const pidDir = await Deno.makeTempDir({ prefix: "semantik-redis-pids-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./run_tests.ts", import.meta.url).pathname,
        ...options.args,
        ...suites,
      ],
      env: { ...options.env, [REDIS_PID_DIR_ENV]: pidDir },
      stdin: "null",
    }).spawn();
    const stop = () => {
      try {
        child.kill("SIGINT");
      } catch { /* gone */ }
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    try {
      return (await child.status).code;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    }
  } finally {
    const left = await reapRedisServers(pidDir).catch(() => []);
    if (left.length > 0) {
      console.error(`[${options.label}] killed redis-server left running on ports ${left}`);
    }
    await Deno.remove(pidDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const started = Date.now();
  const cluster = await startRedisCluster();
  console.error(
    `[test:cluster] Redis Cluster ready in ${Date.now() - started} ms: ${cluster.nodesSetting}`,
  );
  let code = 1;
  try {
    code = await runSuites(CLUSTER_SUITES, {
      args: Deno.args,
      env: { TEST_REDIS_CLUSTER_NODES: cluster.nodesSetting },
      label: "test:cluster",
    });
  } finally {
    await cluster.stop();
  }
  Deno.exit(code);
}
