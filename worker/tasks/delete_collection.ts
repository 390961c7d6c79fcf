/**
 * `collections.delete_collection` (operation `delete`): removes the collection's vectors, rows
 * and event streams (see `deleteCollectionData`); the operation's own record stays.
 */
import { deleteCollectionTask, operationTaskHandler, type TaskHandler } from "@semantik/shared";
import { BASE_COUNTS, deleteCollectionData } from "../../shared/indexing/mod.ts";
import type { WorkerContext } from "../registry.ts";

export function deleteCollectionHandler(ctx: WorkerContext): TaskHandler {
  const rt = ctx.runtime;
  return operationTaskHandler(
    deleteCollectionTask,
    async (_task, op) => {
      const done = await deleteCollectionData(
        { db: rt.db, vectors: rt.vectors, redis: rt.redis, eventKeys: rt.events.keys, log: rt.log },
        op.collection_id,
        { keepOperationId: op.id },
      );
      return { ...BASE_COUNTS, documents_total: done.documents_deleted, ...done };
    },
    { db: rt.db, events: rt.events, log: rt.log },
  ) as TaskHandler;
}
