/** What a queue worker runs: a task's handler, its hooks, and a job as events report it. */
import type { z } from "zod";
import type { Job, JsonValue } from "./job.ts";
import type { TaskDefinition } from "./task.ts";

/** Runs the jobs of one task. */
export interface TaskHandler<S extends z.ZodType = z.ZodType, R = unknown> {
  readonly task: TaskDefinition<S>;
  /**
   * Does the job. Its effects must be idempotent: a job runs at least once, and again after a
   * lost lease. Return a JSON-serialisable result (reported by the `completed` event). Throw to
   * fail the attempt; throw a RetryLaterError to run again later without spending an attempt.
   * Stop soon after `job.signal` fires, and keep the event loop free (a handler that blocks it
   * for longer than the lease loses the lease).
   */
  handle(payload: z.output<S>, job: Job): Promise<R> | R;
  /**
   * Runs once in the worker process when the job goes to the dead letters (e.g. to mark its
   * operation failed). `payload` is undefined when the payload itself was invalid.
   */
  onDead?(payload: z.output<S> | undefined, job: JobRef, error: Error): Promise<void> | void;
  /** Runs in the worker process after the job completed and was acked, with its result. */
  onCompleted?(result: R, job: JobRef): Promise<void> | void;
  /**
   * Runs in the worker process after an attempt failed and was recorded: `retry.delayMs` says
   * when it runs again; `retry` is undefined when it went to the dead letters (then `onDead`
   * runs too).
   */
  onFailed?(
    error: Error,
    job: JobRef,
    retry: { delayMs: number } | undefined,
  ): Promise<void> | void;
}

/** Builds a {@link TaskHandler}, inferring its payload type from the task's schema. */
export function taskHandler<S extends z.ZodType, R>(
  task: TaskDefinition<S>,
  handle: (payload: z.output<S>, job: Job) => Promise<R> | R,
  options: Pick<TaskHandler<S, R>, "onDead" | "onCompleted" | "onFailed"> = {},
): TaskHandler<S, R> {
  return { task, handle, ...options };
}

/** A job as events report it (a {@link Job} without its signal). */
export interface JobRef {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly meta: JsonValue | undefined;
  readonly enqueuedAt: number;
  readonly entryId: string;
}
