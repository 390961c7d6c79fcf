/**
 * `collections.reindex` (operation `reindex`): re-embeds the collection into a new generation
 * with the operation's settings and switches to it atomically (see `reindexCollectionData`).
 * The last attempt discards what it built when it fails; earlier ones leave it to resume.
 */
import { operationTaskHandler, reindexTask, type TaskHandler } from "@semantik/shared";
import {
  failingPermanently,
  indexingDepsFor,
  reindexCollectionData,
} from "../../shared/indexing/mod.ts";
import type { WorkerContext } from "../registry.ts";

export function reindexHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return operationTaskHandler(
    reindexTask,
    (task, op, job) =>
      failingPermanently(
        task,
        () =>
          reindexCollectionData(indexingDepsFor(rt, ctx.embeddingSemaphore), task, op, {
            discardOnFailure: job.isLastAttempt,
          }),
      ),
    { db: rt.db, events: rt.events, log: rt.log },
  ) as TaskHandler;
}
