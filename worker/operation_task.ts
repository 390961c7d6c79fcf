/**
 * Wraps an operation's work as a queue task handler: loads the operation, skips it when it is
 * already finished (a re-delivery), honours a cancel requested before the start, marks it
 * `processing`, runs the work with a {@link TaskContext}, and completes it. A throw is the
 * queue's to retry: the operation stays `processing` with a "retrying" message until the last
 * attempt fails, and only then becomes `failed` with the error.
 */
import {
  type Db,
  type EventPublisher,
  getOperation,
  isTerminal,
  type Job,
  JobAbortedError,
  type Logger,
  OperationCancelledError,
  type OperationRow,
  TaskContext,
  type TaskContextDeps,
  type TaskContextOptions,
  type TaskDefinition,
  type TaskHandler,
  taskHandler,
} from "@semantik/shared";
import type { z } from "zod";

/** The work of one operation type. Returns the completion metadata (docs/API.md's counts). */
export type OperationWork = (
  ctx: TaskContext,
  operation: Readonly<OperationRow>,
  job: Job,
) => Promise<Record<string, unknown> | void>;

export interface OperationTaskDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  /** Enqueues an ended operation's webhook deliveries. @default {undefined: the sweep does} */
  webhooks?: TaskContextDeps["webhooks"];
}

/** Whether `err` (or the job's signal) means the operation was cancelled. */
export function isCancellation(err: unknown, signal: AbortSignal): boolean {
  if (err instanceof OperationCancelledError) return true;
  return signal.aborted && signal.reason instanceof JobAbortedError;
}

export function operationTaskHandler<S extends z.ZodType<{ operation_id: string }>>(
  task: TaskDefinition<S>,
  { work, deps, ...options }: Omit<TaskContextOptions, "signal"> & {
    work: OperationWork;
    deps: OperationTaskDeps;
  },
): TaskHandler<S, { status: string }> {
  const log = deps.log.child({ task: task.name });
  const contextFor = (row: OperationRow, signal?: AbortSignal) =>
    new TaskContext(deps, row, { ...options, signal });

  return taskHandler(task, async (payload, job) => {
    const row = await getOperation(deps.db, payload.operation_id);
    if (!row) {
      log.warn("operation does not exist; nothing to do", { operation_id: payload.operation_id });
      return { status: "missing" };
    }
    if (isTerminal(row.status)) return { status: row.status };
    const ctx = contextFor(row, job.signal);
    if (row.cancel_requested_at) {
      await ctx.cancelled("Cancelled before it started");
      return { status: "cancelled" };
    }
    const started = await ctx.updateStatus(
      "processing",
      job.attempt > 1 ? `Attempt ${job.attempt} of ${job.maxAttempts}` : "Started",
      job.attempt,
    );
    // Finished meanwhile (or this run's lease is already lost): nothing to run.
    if (!started) return { status: ctx.operation.status };
    try {
      const metadata = await work(ctx, ctx.operation, job);
      if (!ctx.finished) await ctx.complete(metadata ?? {});
      else await ctx.flush();
      return { status: ctx.operation.status };
    } catch (err) {
      if (isCancellation(err, job.signal)) {
        await ctx.cancelled();
        return { status: "cancelled" };
      }
      // Lease lost or shutdown: the job is another worker's now, or will run again. A plain
      // failure goes back to the queue, which retries it or buries it (see the hooks below).
      // Either way this attempt writes nothing more (no progress timer left behind).
      ctx.abandon();
      throw err;
    }
  }, {
    async onFailed(error, job, retry) {
      if (!retry) return; // onDead marks it failed
      // An operation's job id is the operation id.
      const row = await getOperation(deps.db, job.id);
      if (row && row.status === "processing") {
        await contextFor(row).retrying(error, job.attempt, job.maxAttempts, retry.delayMs);
      }
    },
    async onDead(payload, job, error) {
      const id = payload?.operation_id ?? job.id;
      const row = await getOperation(deps.db, id);
      if (row && !isTerminal(row.status)) {
        log.warn("operation failed for good", { operation_id: id, err: error });
        await contextFor(row).fail(error);
      }
    },
  });
}
