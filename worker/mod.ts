/** @semantik/worker: the worker role (queue consumers, liveness, embedding semaphore). */
export { jobSlots, WorkerRuntime, type WorkerRuntimeOptions } from "./worker_runtime.ts";
export { startWorker, type StartWorkerOptions } from "./start_worker.ts";
export { buildHandlers } from "./build_handlers.ts";
export type { WorkerContext } from "./worker_context.ts";
export { Semaphore } from "./semaphore.ts";
export {
  checkWorkerHealth,
  type HealthCheckOptions,
  Liveness,
  livenessKeys,
  type LivenessOptions,
  liveWorkers,
  type WorkerBeat,
} from "./liveness.ts";
export { exitOnSignals, type ExitOnSignalsOptions } from "./signals.ts";
export { type JobOutcome, registerWorkerMetrics } from "./worker_metrics.ts";
export { jobLogFields, withJobLogContext } from "./job_log_context.ts";
