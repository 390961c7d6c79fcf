/**
 * `sync.sync_collection` (operation `sync`): brings the collection in line with its sources:
 * added, modified and deleted files (see `syncCollectionData`).
 */
import { operationTaskHandler, syncCollectionTask, type TaskHandler } from "@semantik/shared";
import {
  failingPermanently,
  indexingDepsFor,
  syncCollectionData,
} from "../../shared/indexing/mod.ts";
import type { WorkerContext } from "../registry.ts";

export function syncCollectionHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return operationTaskHandler(
    syncCollectionTask,
    (task, op) =>
      failingPermanently(
        task,
        () => syncCollectionData(indexingDepsFor(rt, ctx.embeddingSemaphore), task, op),
      ),
    { db: rt.db, events: rt.events, log: rt.log },
  ) as TaskHandler;
}
