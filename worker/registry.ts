/**
 * The one place where the worker's task handlers are registered. The runtime calls
 * {@link buildHandlers} once at start with the process's resources; each handler's task names its
 * queue, and the runtime serves those of `WORKER_QUEUES`.
 *
 * The task layer fills this list (indexing, collections, sync, maintenance); the runtime itself
 * never changes for a new task.
 */
import type { Runtime } from "../shared/runtime/runtime.ts";
import type { QueueClient } from "../shared/queue/queue_client.ts";
import type { TaskHandler } from "../shared/queue/queue_worker.ts";
import type { Semaphore } from "./semaphore.ts";

/** What handlers get to work with. */
export interface WorkerContext {
  /** Settings, database, Redis command connection, key space and logger of this process. */
  readonly runtime: Runtime;
  /** Enqueue follow-up jobs and look jobs up. */
  readonly queues: QueueClient;
  /** Hold a permit around every model batch (`EMBEDDING_CONCURRENCY_PER_WORKER`). */
  readonly embeddingSemaphore: Semaphore;
  /** Aborts a job running in this process (e.g. when its operation is cancelled). */
  abortJob(jobId: string, reason: string): boolean;
}

/** The handlers of every task this codebase defines. */
export function buildHandlers(_ctx: WorkerContext): TaskHandler[] | Promise<TaskHandler[]> {
  return [];
}
