/**
 * `maintenance.cleanup_operations` (scheduler, daily at 03:00 UTC by default): removes finished
 * operations past `OPERATION_RETENTION_DAYS` with their streams, trims the event and dead-letter
 * streams, and drops the consumers and consumer groups of processes that are gone (see
 * `cleanupOperations`).
 */
import { cleanupOperationsTask, type TaskHandler, taskHandler } from "@semantik/shared";
import { cleanupOperations } from "../../shared/maintenance/mod.ts";
import { liveWorkers } from "../liveness.ts";
import type { WorkerContext } from "../registry.ts";

export function cleanupOperationsHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return taskHandler(cleanupOperationsTask, () =>
    cleanupOperations({
      db: rt.db,
      redis: rt.redis,
      queues: ctx.queues,
      eventKeys: rt.events.keys,
      log: rt.log,
      liveConsumers: async () =>
        (await liveWorkers(rt.redis, { prefix: rt.config.redisPrefix })).map((w) => w.consumer),
    }, { retentionDays: rt.config.operationRetentionDays }));
}
