/**
 * Every task of the system: name (the original system's), payload schema, queue and retry
 * policy. Producers enqueue these definitions; workers register a handler for each.
 */
import { z } from "zod";
import { defineTask } from "../queue/task.ts";

const operationPayload = z.strictObject({ operation_id: z.uuid() });
/** Scheduler-made jobs carry the cron tick they belong to (ISO time), for logs and dedup. */
const tickPayload = z.strictObject({ tick: z.string().max(64) });

// Operation tasks: 3 attempts, 5 s then 10 s apart (with jitter); a failure past those marks the
// operation failed.
const OPERATION_RETRY = {
  maxAttempts: 3,
  backoff: { type: "exponential" as const, delayMs: 5000 },
};

export const processSourceTask = defineTask(
  "indexing.process_source",
  operationPayload,
  OPERATION_RETRY,
);
export const deleteCollectionTask = defineTask(
  "collections.delete_collection",
  operationPayload,
  OPERATION_RETRY,
);
export const removeSourceTask = defineTask(
  "collections.remove_source",
  operationPayload,
  OPERATION_RETRY,
);
export const reindexTask = defineTask("collections.reindex", operationPayload, OPERATION_RETRY);
export const syncCollectionTask = defineTask(
  "sync.sync_collection",
  operationPayload,
  OPERATION_RETRY,
);

export const embedBatchPayload = z.strictObject({
  texts: z.array(z.string().max(100_000)).min(1).max(1024),
  model: z.string().min(1).max(256),
  mode: z.enum(["document", "query"]),
  operation_id: z.uuid().optional(),
});
/** Request/reply on its own queue (`embed`): the caller waits, so one attempt and no backoff. */
export const generateEmbeddingsBatchTask = defineTask(
  "indexing.generate_embeddings_batch",
  embedBatchPayload,
  { maxAttempts: 2, backoff: { type: "fixed" as const, delayMs: 100 } },
);

export const checkContinuousSyncTask = defineTask("sync.check_continuous_sync", tickPayload, {
  maxAttempts: 2,
});
export const cleanupOperationsTask = defineTask("maintenance.cleanup_operations", tickPayload, {
  maxAttempts: 3,
});
export const reconcileTask = defineTask("maintenance.reconcile", tickPayload, { maxAttempts: 2 });

export const OPERATION_TASKS = [
  processSourceTask,
  deleteCollectionTask,
  removeSourceTask,
  reindexTask,
  syncCollectionTask,
] as const;
