/**
 * `indexing.process_source` (operations `index` and `append`): indexes the source named by the
 * operation's `config.source_id` into the collection (see `indexSources`).
 */
import { operationTaskHandler, processSourceTask, type TaskHandler } from "@semantik/shared";
import { z } from "zod";
import { failingPermanently, indexingDepsFor, indexSources } from "../../shared/indexing/mod.ts";
import type { WorkerContext } from "../registry.ts";

const config = z.object({ source_id: z.uuid() });

export function processSourceHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return operationTaskHandler(
    processSourceTask,
    (task, op) =>
      failingPermanently(task, () => {
        const { source_id } = config.parse(op.config);
        return indexSources(indexingDepsFor(rt, ctx.embeddingSemaphore), task, op, {
          sourceIds: [source_id],
        });
      }),
    { db: rt.db, events: rt.events, log: rt.log },
  ) as TaskHandler;
}
