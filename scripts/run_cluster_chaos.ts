/**
 * `deno task test:cluster:chaos [deno test options]`: the chaos scenarios of a Redis failover
 * (docs/SCALING.md): on a Redis Cluster (tests/cluster/cluster_chaos_cluster.ts) and with
 * Sentinel (tests/cluster/sentinel_chaos_cluster.ts). Each scenario starts its own topology
 * (it kills a master) and stops it, failed or not; the runner kills any redis-server a scenario
 * left running (its process died before its cleanup). One scenario at a time: each runs the
 * whole system as processes.
 */
import { runSuites } from "./run_cluster_tests.ts";

/** The scenarios, in the order they run. */
export const CLUSTER_CHAOS_SCENARIOS = [
  "tests/cluster/cluster_chaos_cluster.ts",
  "tests/cluster/sentinel_chaos_cluster.ts",
];

if (import.meta.main) {
  Deno.exit(
    await runSuites(CLUSTER_CHAOS_SCENARIOS, {
      args: Deno.args,
      env: { DENO_JOBS: "1" },
      label: "test:cluster:chaos",
    }),
  );
}
