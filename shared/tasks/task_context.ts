/**
 * The task context (the original system's `task_context` / `TaskContext`): what an operation's
 * handler uses to report. Every status change writes the operation row and publishes an event
 * (one Lua script gives it its per-operation id). Progress is coalesced: at most one write and
 * event per `progressIntervalMs`, and the latest value always goes out (on the timer, or before
 * the next status change).
 *
 * Fencing: a context that started a run (`updateStatus`) took a new `run_epoch` for it, and its
 * later writes require that epoch: once another worker took the job over and started it again,
 * this run writes nothing, not even a late completion. Nor does it once the job's signal says its
 * lease was lost. Contexts that never start a run (reconcile, the API's cancel, a dead job's hook)
 * are not fenced. Every write reserves its event in the same
 * UPDATE, so an event of a write that committed before a newer one already published is refused
 * in Redis instead of overtaking it (nothing follows a terminal event).
 */
import type { Db, Queryable } from "../db/db.ts";
import type { EventPublisher } from "../events/event_publisher.ts";
import { LeaseLostError } from "../queue/job.ts";
import type { Logger } from "../log/logger.ts";
import type { OperationRow, OperationStatus } from "../operations/operation_types.ts";
import { isTerminal } from "../operations/operation_types.ts";
import { getOperation, updateActiveOperation } from "../operations/operations.ts";
import { errorMessage } from "../errors.ts";
import type { WebhookOutbox } from "../webhooks/webhook_outbox.ts";

/** How much of an error an operation row keeps. */
const ERROR_TEXT_MAX = 2000;

/** Thrown by {@link TaskContext.checkpoint} when the operation was cancelled. */
export class OperationCancelledError extends Error {
  constructor(operationId: string) {
    super(`Operation ${operationId} was cancelled`);
    this.name = "OperationCancelledError";
  }
}

/** What a task context writes to and publishes through. */
export interface TaskContextDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  /**
   * Enqueues the webhook deliveries an ending write recorded, after its commit. Without it (or
   * when the enqueue fails) the periodic sweep enqueues them. @default {undefined}
   */
  webhooks?: Pick<WebhookOutbox, "enqueueOperation">;
}

/** Options of {@link TaskContext}. */
export interface TaskContextOptions {
  /** Least time between two progress writes/events, in ms. @default {250} */
  progressIntervalMs?: number;
  /** Least time between two reads of the cancel flag in {@link TaskContext.checkpoint}, in ms. @default {2000} */
  cancelPollMs?: number;
  /** The job's signal: lease lost, shutdown, or a cancellation delivered to this process. */
  signal?: AbortSignal;
}

interface PendingProgress {
  progress: number;
  message?: string;
  metadata?: Record<string, unknown>;
}

const COLLECTION_STATUS_ON_START = "processing";

export class TaskContext {
  readonly operationId: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly #deps: TaskContextDeps;
  readonly #interval: number;
  readonly #cancelPollMs: number;
  /** The run epoch this context's start took; its later writes require it. */
  #epoch: number | undefined;
  #row: OperationRow;
  #chain: Promise<unknown> = Promise.resolve();
  #pending: PendingProgress | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastFlush = 0;
  #lastCancelPoll = 0;
  #finished = false;
  #abandoned = false;

  constructor(deps: TaskContextDeps, row: OperationRow, options: TaskContextOptions = {}) {
    const { progressIntervalMs = 250, cancelPollMs = 2000 } = options;
    this.#deps = deps;
    this.#row = row;
    this.operationId = row.id;
    this.signal = options.signal ?? new AbortController().signal;
    this.log = deps.log.child({ operation_id: row.id, operation_type: row.type });
    this.#interval = progressIntervalMs;
    this.#cancelPollMs = cancelPollMs;
  }

  /** The operation as last written by this context. */
  get operation(): Readonly<OperationRow> {
    return this.#row;
  }

  /** True once complete, fail or cancelled ran. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Runs `fn` after every earlier write of this context, so writes never reorder. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn);
    this.#chain = p.catch(() => {});
    return p;
  }

  /**
   * Ends this context without a final write: pending progress is dropped and every later call
   * writes nothing. For a handler that stops by throwing (its lease was lost, the worker shuts
   * down, the attempt failed): a progress timer left behind would otherwise write after the
   * attempt ended, over what the next owner or the failure hook writes.
   */
  abandon(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    this.#finished = true;
    this.#abandoned = true;
  }

  /** Whether this context may still write: not abandoned, and its job's lease not lost. */
  #mayWrite(): boolean {
    if (this.#abandoned) return false;
    if (this.signal.aborted && this.signal.reason instanceof LeaseLostError) {
      this.abandon();
      return false;
    }
    return true;
  }

  /**
   * Writes `set` to the row while it is not finished and publishes the new state. Returns false
   * when the row was already terminal (cancelled or failed elsewhere), a newer attempt owns it, or
   * this context may no longer write: nothing is published.
   */
  async #write(
    set: string,
    params: unknown[],
    where = "status in ('pending', 'processing')",
    alongside?: (tx: Queryable, row: OperationRow) => Promise<void>,
    starts = false,
  ): Promise<boolean> {
    if (!this.#mayWrite()) return false;
    // What goes with the new state (the collection's status) commits with it, before the event
    // goes out: a client that reads the collection on the event sees the settled state.
    const row = await this.#deps.db.transaction(async (tx) => {
      const row = await updateActiveOperation(tx, this.#row.id, {
        set,
        params,
        where,
        runEpoch: this.#epoch,
      });
      if (row && alongside) await alongside(tx, row);
      return row;
    });
    if (!row) {
      const current = await getOperation(this.#deps.db, this.#row.id);
      if (current) this.#row = current;
      return false;
    }
    this.#row = row;
    if (starts) this.#epoch = Number(row.run_epoch);
    try {
      await this.#deps.events.publish(row);
    } catch (err) {
      // The row is the truth: watches re-read it while no terminal frame went out, and a client
      // that missed the event gets a snapshot on reconnect.
      this.log.warn("cannot publish operation event", { err });
    }
    if (isTerminal(row.status) && this.#deps.webhooks) {
      // The deliveries committed with the row; one not enqueued here is the sweep's.
      await this.#deps.webhooks.enqueueOperation(row.id).catch((err) =>
        this.log.warn("cannot enqueue webhook deliveries; the sweep will", { err })
      );
    }
    return true;
  }

  /**
   * Starts a run: marks the operation `processing` (first start or a retry) and the collection
   * busy, and takes a new run epoch, which this context's later writes require (an earlier run
   * still writing is fenced off).
   */
  updateStatus(status: Extract<OperationStatus, "processing">, message = "", attempt?: number) {
    return this.#serial(async () => {
      return await this.#write(
        `status = $2, message = $3, started_at = coalesce(started_at, now()),
         attempts = greatest(attempts, $4), run_epoch = run_epoch + 1`,
        [status, message, attempt ?? this.#row.attempts],
        undefined,
        async (tx, row) => {
          if (row.type === "delete") return;
          await tx.query(
            `update collections set status = $2, status_message = null, updated_at = now()
              where id = $1 and status <> 'deleting'`,
            [row.collection_id, COLLECTION_STATUS_ON_START],
          );
        },
        true,
      );
    });
  }

  /**
   * Records progress (0-100) with a message and optional partial metadata. Cheap to call in a
   * tight loop: writes and events are coalesced to one per `progressIntervalMs`.
   */
  updateProgress(progress: number, message?: string, metadata?: Record<string, unknown>): void {
    if (this.#finished) return;
    const p = Math.max(0, Math.min(100, Math.round(progress)));
    this.#pending = { progress: p, message, metadata };
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastFlush + this.#interval - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((err) => this.log.warn("cannot write progress", { err }));
    }, wait);
  }

  /** Writes pending progress now (status changes call this first). */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const p = this.#pending;
    this.#pending = undefined;
    if (!p) return this.#serial(() => Promise.resolve());
    this.#lastFlush = Date.now();
    return this.#serial(async () => {
      const metadata = p.metadata ? { ...this.#row.metadata, ...p.metadata } : this.#row.metadata;
      await this.#write(
        `progress = greatest(progress, $2), message = coalesce($3, message), metadata = $4::jsonb`,
        [p.progress, p.message ?? null, metadata],
        "status = 'processing'",
      );
    });
  }

  #finish<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    this.#finished = true;
    return this.#serial(fn);
  }

  /** Ends the operation `completed` at 100% with `metadata`; the collection becomes ready. */
  complete(metadata: Record<string, unknown> = {}, message = "Completed"): Promise<boolean> {
    return this.#finish(async () => {
      return await this.#write(
        `status = 'completed', progress = 100, message = $2, metadata = $3::jsonb,
         error_message = null, completed_at = now()`,
        [message, { ...this.#row.metadata, ...metadata }],
        undefined,
        (tx, row) => settleCollection(tx, row, "ready", null),
      );
    });
  }

  /** Ends the operation `failed` with a readable message; the collection shows the error. */
  fail(error: unknown, metadata: Record<string, unknown> = {}): Promise<boolean> {
    const text = errorMessage(error, ERROR_TEXT_MAX);
    return this.#finish(async () => {
      return await this.#write(
        `status = 'failed', message = 'Failed', error_message = $2, metadata = $3::jsonb,
         completed_at = now()`,
        [text, { ...this.#row.metadata, ...metadata }],
        undefined,
        (tx, row) => settleCollection(tx, row, "error", text),
      );
    });
  }

  /** Ends the operation `cancelled`. */
  cancelled(message = "Cancelled"): Promise<boolean> {
    return this.#finish(async () => {
      return await this.#write(
        `status = 'cancelled', message = $2, completed_at = now()`,
        [message],
        undefined,
        (tx, row) => settleCollection(tx, row, "ready", null),
      );
    });
  }

  /**
   * Records a failed attempt that will be retried: the operation stays `processing` with a
   * message saying so.
   */
  retrying(
    error: unknown,
    attempt: number,
    maxAttempts: number,
    delayMs: number,
  ): Promise<boolean> {
    return this.#serial(() =>
      this.#write(
        `message = $2, error_message = null`,
        [
          `Attempt ${attempt} of ${maxAttempts} failed (${errorMessage(error, ERROR_TEXT_MAX)}); ` +
          `retrying in ${Math.max(1, Math.round(delayMs / 1000))} s`,
        ],
        "status = 'processing'",
      )
    );
  }

  /**
   * Between batches: throws the signal's reason when the job was aborted, and an
   * {@link OperationCancelledError} when the operation was cancelled (reading the flag from
   * Postgres at most every `cancelPollMs`, in case the cancel message did not reach this process).
   */
  async checkpoint(): Promise<void> {
    this.signal.throwIfAborted();
    const now = Date.now();
    if (now - this.#lastCancelPoll < this.#cancelPollMs) return;
    this.#lastCancelPoll = now;
    const [row] = await this.#deps.db.query<{ cancel_requested_at: Date | null; status: string }>(
      "select cancel_requested_at, status from operations where id = $1",
      [this.#row.id],
    );
    if (!row || row.cancel_requested_at || isTerminal(row.status as OperationStatus)) {
      throw new OperationCancelledError(this.#row.id);
    }
  }
}

/** The collection's status once an operation on it ended. */
async function settleCollection(
  tx: Queryable,
  row: OperationRow,
  status: "ready" | "error",
  message: string | null,
): Promise<void> {
  // A finished delete removed the collection; a failed or cancelled one leaves it usable.
  if (row.type === "delete" && row.status === "completed") return;
  await tx.query(
    `update collections set status = $2, status_message = $3, updated_at = now()
      where id = $1 and (status <> 'deleting' or $4::boolean)`,
    [row.collection_id, status, message, row.type === "delete"],
  );
}
