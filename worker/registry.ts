/**
 * The one place where the worker's task handlers are registered. The runtime calls
 * {@link buildHandlers} once at start with the process's resources; each handler's task names its
 * queue, and the runtime serves those of `WORKER_QUEUES`. A new task is one line here (see
 * docs/EXTENDING.md); the runtime itself never changes.
 */
import type { QueueClient, Runtime, TaskHandler } from "@semantik/shared";
import type { Semaphore } from "./semaphore.ts";
import { embedBatchHandler } from "./tasks/embed_batch.ts";
import { processSourceHandler } from "./tasks/process_source.ts";
import { deleteCollectionHandler } from "./tasks/delete_collection.ts";
import { removeSourceHandler } from "./tasks/remove_source.ts";
import { syncCollectionHandler } from "./tasks/sync_collection.ts";
import { reindexHandler } from "./tasks/reindex.ts";
import { checkContinuousSyncHandler } from "./tasks/check_continuous_sync.ts";
import { cleanupOperationsHandler } from "./tasks/cleanup_operations.ts";
import { reconcileHandler } from "./tasks/reconcile.ts";

/** What handlers get to work with. */
export interface WorkerContext {
  /** Settings, database, Redis, queues, events, vector store and models of this process. */
  readonly runtime: Runtime;
  /** Enqueue follow-up jobs and look jobs up. */
  readonly queues: QueueClient;
  /** Hold a permit around every model batch (`EMBEDDING_CONCURRENCY_PER_WORKER`). */
  readonly embeddingSemaphore: Semaphore;
  /** Aborts a job running in this process (e.g. when its operation is cancelled). */
  abortJob(jobId: string, reason: string): boolean;
}

/** The handlers of every task this codebase defines. */
export function buildHandlers(ctx: WorkerContext): TaskHandler[] {
  return [
    embedBatchHandler(ctx),
    processSourceHandler(ctx),
    deleteCollectionHandler(ctx),
    removeSourceHandler(ctx),
    syncCollectionHandler(ctx),
    reindexHandler(ctx),
    checkContinuousSyncHandler(ctx),
    cleanupOperationsHandler(ctx),
    reconcileHandler(ctx),
  ];
}
