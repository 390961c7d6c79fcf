/**
 * `sync.check_continuous_sync` (scheduler, every 5 minutes by default): starts a `sync` operation
 * for each continuous collection that is due (see `checkContinuousSync`).
 */
import { checkContinuousSyncTask, type TaskHandler, taskHandler } from "@semantik/shared";
import { checkContinuousSync } from "../../shared/maintenance/mod.ts";
import type { WorkerContext } from "../registry.ts";

export function checkContinuousSyncHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return taskHandler(
    checkContinuousSyncTask,
    (payload) =>
      checkContinuousSync({ db: rt.db, queues: ctx.queues, log: rt.log }, { tick: payload.tick }),
  );
}
