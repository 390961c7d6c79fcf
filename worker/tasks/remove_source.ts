/**
 * `collections.remove_source` (operation `remove_source`): deletes the source named by the
 * operation's `config.source_id` with its documents, chunks and points (see `removeSourceData`).
 */
import { operationTaskHandler, removeSourceTask, type TaskHandler } from "@semantik/shared";
import { z } from "zod";
import { BASE_COUNTS, failingPermanently, removeSourceData } from "../../shared/indexing/mod.ts";
import type { WorkerContext } from "../registry.ts";

const config = z.object({ source_id: z.uuid() });

export function removeSourceHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return operationTaskHandler(
    removeSourceTask,
    (task, op) =>
      failingPermanently(task, async () => {
        const { source_id } = config.parse(op.config);
        const done = await removeSourceData(
          { db: rt.db, vectors: rt.vectors, log: rt.log },
          op.collection_id,
          source_id,
          { signal: task.signal },
        );
        return { ...BASE_COUNTS, documents_total: done.documents_removed, ...done };
      }),
    { db: rt.db, events: rt.events, log: rt.log },
  ) as TaskHandler;
}
