/** What the worker's task handlers get to work with (see `buildHandlers`). */
import type { QueueClient, Runtime } from "@semantik/shared";
import type { Semaphore } from "./semaphore.ts";

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
