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
  /** The graph's precision (a collection's); unset: the worker's default. */
  precision: z.enum(["fp32", "fp16", "int8"]).optional(),
  operation_id: z.uuid().optional(),
});
/**
 * Request/reply on its own queue (`embed`, served by the GPU workers; every other task runs on
 * `default`): the caller waits, so one retry only, 100 ms after the first attempt.
 */
export const generateEmbeddingsBatchTask = defineTask(
  "indexing.generate_embeddings_batch",
  embedBatchPayload,
  { queue: "embed", maxAttempts: 2, backoff: { type: "fixed" as const, delayMs: 100 } },
);

export const rerankBatchPayload = z.strictObject({
  query: z.string().min(1).max(1000),
  passages: z.array(z.string().max(100_000)).min(1).max(256),
});
/**
 * Request/reply like query embedding, on the same `embed` queue: a worker's cross-encoder
 * (`RERANK_MODEL`) scores each passage against the query (`rerank: true` with
 * `EMBED_QUERIES=worker`).
 */
export const rerankBatchTask = defineTask(
  "indexing.rerank_batch",
  rerankBatchPayload,
  { queue: "embed", maxAttempts: 2, backoff: { type: "fixed" as const, delayMs: 100 } },
);

export const checkContinuousSyncTask = defineTask("sync.check_continuous_sync", tickPayload, {
  maxAttempts: 2,
});
export const cleanupOperationsTask = defineTask("maintenance.cleanup_operations", tickPayload, {
  maxAttempts: 3,
});
export const reconcileTask = defineTask("maintenance.reconcile", tickPayload, { maxAttempts: 2 });

/**
 * `webhooks.deliver`: one POST of a webhook delivery (`webhook_deliveries` row). The outbox
 * enqueues it with `WEBHOOK_MAX_ATTEMPTS` and a backoff from `WEBHOOK_RETRY_DELAY_MS`; these are
 * only the defaults for an enqueue that names none. Past its attempts it is a dead letter and the
 * delivery `failed`.
 */
export const deliverWebhookTask = defineTask(
  "webhooks.deliver",
  z.strictObject({ delivery_id: z.uuid() }),
  { maxAttempts: 8, backoff: { type: "exponential" as const, delayMs: 10_000 } },
);
/** `webhooks.sweep_deliveries` (scheduler): enqueues deliveries recorded but never enqueued. */
export const sweepWebhookDeliveriesTask = defineTask("webhooks.sweep_deliveries", tickPayload, {
  maxAttempts: 2,
});

export const OPERATION_TASKS = [
  processSourceTask,
  deleteCollectionTask,
  removeSourceTask,
  reindexTask,
  syncCollectionTask,
] as const;
