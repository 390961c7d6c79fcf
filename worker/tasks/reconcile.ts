/**
 * `maintenance.reconcile` (scheduler, every minute by default): enqueues again the operations
 * Postgres says are active but no job holds (after a Redis flush or restart), fails those whose
 * job is dead, and fails those running past `OPERATION_MAX_RUNTIME_MINUTES` (see
 * `reconcileOperations`).
 */
import { reconcileTask, type TaskHandler, taskHandler } from "@semantik/shared";
import { reconcileOperations } from "../../shared/maintenance/mod.ts";
import type { WorkerContext } from "../registry.ts";

export function reconcileHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return taskHandler(reconcileTask, () =>
    reconcileOperations(
      { db: rt.db, queues: ctx.queues, events: rt.events, log: rt.log },
      {
        maxRuntimeMinutes: rt.config.operationMaxRuntimeMinutes,
        graceMs: rt.config.reconcileGraceMs,
      },
    ));
}
