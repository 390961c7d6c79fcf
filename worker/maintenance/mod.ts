/**
 * Maintenance work the scheduler's periodic jobs run on a worker: continuous sync checks,
 * cleanup of finished operations and dead processes' leftovers, and reconciliation of Postgres'
 * operations with Redis' jobs.
 */
export * from "./check_continuous_sync.ts";
export * from "./cleanup_operations.ts";
export * from "./reconcile_operations.ts";
export * from "./remove_dead_hub_groups.ts";
export * from "./start_lexical_backfills.ts";
