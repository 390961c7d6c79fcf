/**
 * Starts the worker role on a process {@link Runtime}: builds the handlers from the table (`buildHandlers`) and
 * runs a {@link WorkerRuntime} with the runtime's settings. Used by `worker/main.ts` and by
 * `deno task dev`, which runs every role in one process.
 */
import {
  CancelListener,
  embeddingMetrics,
  registerGpuMemoryMetrics,
  type Runtime,
  type TaskHandler,
} from "@semantik/shared";
import { withJobLogContext } from "./job_log_context.ts";
import { registerWorkerMetrics } from "./worker_metrics.ts";
import { buildHandlers } from "./build_handlers.ts";
import type { WorkerContext } from "./worker_context.ts";
import { Semaphore } from "./semaphore.ts";
import { startLexicalBackfills } from "./maintenance/mod.ts";
import { jobSlots, WorkerRuntime, type WorkerRuntimeOptions } from "./worker_runtime.ts";

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** Builds the handlers. @default {buildHandlers from ./build_handlers.ts} */
  registry?: (ctx: WorkerContext) => TaskHandler[] | Promise<TaskHandler[]>;
  /** Overrides of the runtime's options (lease settings in tests, say). @default {{}} */
  overrides?: Partial<WorkerRuntimeOptions>;
}

/**
 * Starts the worker and resolves once it reads jobs. The runtime's close closes it (gracefully,
 * within `WORKER_SHUTDOWN_TIMEOUT_S`).
 */
export async function startWorker(
  rt: Runtime,
  options: StartWorkerOptions = {},
): Promise<WorkerRuntime> {
  const { registry = buildHandlers, overrides = {} } = options;
  const c = rt.config;
  const embeddingSemaphore = new Semaphore(c.embeddingConcurrencyPerWorker);
  const queues = rt.queues;
  // Handlers are built before the runtime that runs them, so their abortJob looks it up late.
  const ref: { worker?: WorkerRuntime } = {};
  const built = await registry({
    runtime: rt,
    queues,
    embeddingSemaphore,
    abortJob: (jobId, reason) => ref.worker?.abortJob(jobId, reason) ?? false,
  });
  // A job's log lines carry the id of the request that started its operation.
  const handlers = built.map((h) => withJobLogContext(h, rt.log.child({}, "worker")));
  const w = ref.worker = new WorkerRuntime({
    redisUrl: c.redis,
    redis: rt.redis,
    prefix: c.redisPrefix,
    queues: c.workerQueues,
    handlers,
    concurrency: jobSlots(navigator.hardwareConcurrency ?? 2, c.workerMaxConcurrency),
    embeddingSemaphore,
    shutdownTimeoutMs: c.workerShutdownTimeoutMs,
    // Renewal and reclaim scan keep their defaults' proportions to the lease (1/3, 1/2).
    queueOptions: { leaseMs: c.workerLeaseMs, prefetch: c.workerPrefetch },
    logger: rt.log,
    ...overrides,
  });
  registerWorkerMetrics(rt.metrics, w);
  // Registered now, so the families are scraped before the first model loads (same metrics).
  embeddingMetrics(rt.metrics);
  if (c.embeddingDevice !== "cpu") registerGpuMemoryMetrics(rt.metrics);
  const running = w.run().catch((err) => rt.log.error("worker stopped with an error", { err }));
  // Job id = operation id: a cancel request names the job to abort, wherever it runs.
  const cancels = new CancelListener(
    rt.redisFactory("cancel"),
    rt.events.keys.cancelChannel,
    (operationId) => w.abortJob(operationId, "cancelled"),
    rt.log,
  );
  rt.onClose(async () => {
    await cancels.close();
    await w.close();
    await running;
  });
  await Promise.all([w.waitUntilReady(), cancels.start()]);
  // Collections marked by migration 0010 get their lexical backfill without waiting for the
  // first maintenance tick (started once per collection, whichever process comes first).
  startLexicalBackfills({ db: rt.db, queues, log: rt.log }).catch((err) =>
    rt.log.warn("could not start lexical backfills; the next maintenance tick tries again", {
      err,
    })
  );
  return w;
}
