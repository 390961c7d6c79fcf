/** What a handler sees of its job, what the queue reports about jobs, and the abort reasons. */

/** A JSON value: job metadata is carried untouched from the enqueuer to handlers and events. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** The job a handler runs. */
export interface Job {
  /** The job id (for an operation's job, the operation id). */
  readonly id: string;
  /** The task name. */
  readonly name: string;
  readonly queue: string;
  /** This attempt, 1-based. Lost deliveries (a killed worker) count; postponements do not. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Whether a failure now sends the job to the dead letters. */
  readonly isLastAttempt: boolean;
  /** The enqueuer's opaque metadata (e.g. a `replyTo`), untouched. */
  readonly meta: JsonValue | undefined;
  /** When the job was first enqueued (ms since the epoch, Redis clock). */
  readonly enqueuedAt: number;
  /** Times the job was postponed with a RetryLaterError so far. */
  readonly postpones: number;
  /**
   * Fires when the handler should stop: the lease was lost (another worker took the job, or it
   * was removed), the worker's shutdown grace ran out, or {@link abortJob} was called. Its
   * `reason` is a {@link LeaseLostError}, {@link WorkerClosingError} or {@link JobAbortedError}.
   */
  readonly signal: AbortSignal;
  /** The stream entry this attempt came from. */
  readonly entryId: string;
}

/** Why a handler's signal fired: this worker no longer holds the job. */
export class LeaseLostError extends Error {
  /** `taken`: another consumer holds the job now; `gone`: the job was removed or flushed. */
  readonly kind: "taken" | "gone";
  constructor(jobId: string, kind: "taken" | "gone") {
    super(
      kind === "taken"
        ? `Lost the lease of job ${jobId}: another worker took it over`
        : `Lost the lease of job ${jobId}: the job is no longer in the queue`,
    );
    this.name = "LeaseLostError";
    this.kind = kind;
  }
}

/** Why a handler's signal fired: the worker is shutting down and the grace period ran out. */
export class WorkerClosingError extends Error {
  constructor(jobId: string) {
    super(`Stopped job ${jobId}: the worker is shutting down`);
    this.name = "WorkerClosingError";
  }
}

/** Why a handler's signal fired: someone aborted this job (e.g. its operation was cancelled). */
export class JobAbortedError extends Error {
  constructor(jobId: string, reason: string) {
    super(`Aborted job ${jobId}: ${reason}`);
    this.name = "JobAbortedError";
  }
}

/** Where a job is. Completed jobs are deleted, so they have no state. */
export type JobState = "waiting" | "active" | "delayed" | "dead";

/** A job as {@link Queue.getJob} reports it. */
export interface JobInfo {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  /** Attempts started so far (for a waiting or delayed job: the last one started). */
  attempts: number;
  maxAttempts: number;
  postpones: number;
  /** The last error, for a job that failed before. */
  error: string | undefined;
  /** The consumer running it (state `active`). */
  consumer: string | undefined;
  /** Ms since its lease was last renewed (state `active`). */
  idleMs: number | undefined;
  /** When it becomes due (state `delayed`; ms, Redis clock). */
  dueAt: number | undefined;
  enqueuedAt: number;
  /** When it died (state `dead`). */
  failedAt: number | undefined;
  meta: JsonValue | undefined;
}

/** An entry of a queue's dead-letter stream. */
export interface DeadLetter {
  /** The job id. */
  id: string;
  queue: string;
  name: string;
  attempts: number;
  error: string;
  /** ms since the epoch. */
  failedAt: number;
  meta: JsonValue | undefined;
}

/** A snapshot of a queue's size. */
export interface QueueDepth {
  /** In the stream, not yet delivered. */
  waiting: number;
  /** Delivered and not finished (running, or held by a dead worker until reclaimed). */
  active: number;
  delayed: number;
  dead: number;
}

/** Running totals kept in Redis by the queue's scripts (across all processes). */
export interface QueueTotals {
  enqueued: number;
  completed: number;
  retried: number;
  postponed: number;
  dead: number;
  reclaimed: number;
}
