/**
 * `maintenance.reconcile`: makes Redis agree with Postgres, which is the truth about operations.
 *
 * - An operation `pending` or `processing` that no job holds (Redis restarted or was flushed, a
 *   dispatch failed, a job was lost) is enqueued again. Job id = operation id, so two reconcilers
 *   racing enqueue it once, and a handler that finds the operation already finished does
 *   nothing. Only operations untouched for a grace period are looked at, so one just created
 *   (its job about to be enqueued) is not raced.
 * - An operation whose job is dead while the operation is not finished (the worker died before
 *   recording the failure) is failed with the dead letter's error: the dead job's id blocks a
 *   new enqueue, and running it again is the dead-letter requeue's business.
 * - An operation with no job and a cancel request is cancelled rather than run.
 * - An operation `processing` for longer than `OPERATION_MAX_RUNTIME_MINUTES` is failed with a
 *   message that says so, and its job is removed (its worker aborts the handler at its next lease
 *   renewal).
 */
import {
  type Db,
  dispatchOperation,
  type EventPublisher,
  getOperation,
  isTerminal,
  type Logger,
  type OperationRow,
  type QueueClient,
  TaskContext,
  type TaskContextDeps,
} from "@semantik/shared";

/** What {@link reconcileOperations} works with. */
export interface ReconcileDeps {
  db: Db;
  queues: QueueClient;
  /** Publishes the events of the operations it fails or cancels. */
  events: EventPublisher;
  log: Logger;
  /** Enqueues the webhook deliveries of operations it ends. @default {undefined: the sweep does} */
  webhooks?: TaskContextDeps["webhooks"];
}

/** Options of {@link reconcileOperations}. */
export interface ReconcileOptions {
  /**
   * Operations whose row changed more recently than this are left alone, in ms: a just-created
   * operation's job may not be enqueued yet, and a running one writes progress.
   * @default {60000}
   */
  graceMs?: number;
  /** `OPERATION_MAX_RUNTIME_MINUTES`: a `processing` operation started longer ago is failed. @default {720} */
  maxRuntimeMinutes?: number;
  /** Most operations looked at per step and call; the rest wait for the next run. @default {1000} */
  limit?: number;
}

/** What a reconcile did. */
export interface ReconcileResult {
  /** Active operations past the grace period that were looked at. */
  checked: number;
  /** Enqueued again: Postgres said active, no job held them. */
  requeued: number;
  /** Failed because their job was dead. */
  failed_dead: number;
  /** Cancelled: a cancel was requested and no job held them. */
  cancelled: number;
  /** Failed for running longer than the limit. */
  timed_out: number;
  /** Ids of the operations acted on, by what was done. */
  operation_ids: {
    requeued: string[];
    failed_dead: string[];
    cancelled: string[];
    timed_out: string[];
  };
}

export async function reconcileOperations(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const { graceMs = 60_000, maxRuntimeMinutes = 720, limit = 1000 } = options;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(`Cannot reconcile: graceMs must be a non-negative number, got ${graceMs}`);
  }
  if (!Number.isInteger(maxRuntimeMinutes) || maxRuntimeMinutes < 1) {
    throw new RangeError(
      `Cannot reconcile: maxRuntimeMinutes must be a positive integer, got ${maxRuntimeMinutes}`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Cannot reconcile: limit must be a positive integer, got ${limit}`);
  }
  const log = deps.log.child({ task: "maintenance.reconcile" });
  const result: ReconcileResult = {
    checked: 0,
    requeued: 0,
    failed_dead: 0,
    cancelled: 0,
    timed_out: 0,
    operation_ids: { requeued: [], failed_dead: [], cancelled: [], timed_out: [] },
  };
  const ctx = (row: OperationRow) =>
    new TaskContext(
      { db: deps.db, events: deps.events, log: deps.log, webhooks: deps.webhooks },
      row,
    );

  // 1. Past the runtime limit: failed, whatever holds them.
  const overdue = await deps.db.query<OperationRow>(
    `select * from operations
      where status = 'processing' and started_at < now() - make_interval(mins => $1)
      order by started_at, id limit $2`,
    [maxRuntimeMinutes, limit],
  );
  for (const row of overdue) {
    // Removing the running job makes its worker abort the handler at the next lease renewal.
    await deps.queues.removeJob(row.id, { force: true }).catch((err) =>
      log.warn("cannot remove an overdue operation's job", { operation_id: row.id, err })
    );
    const ok = await ctx(row).fail(
      `Operation ran longer than OPERATION_MAX_RUNTIME_MINUTES (${maxRuntimeMinutes} minutes) ` +
        "and was stopped",
    );
    if (ok) {
      result.timed_out++;
      result.operation_ids.timed_out.push(row.id);
      log.warn("operation ran past its limit; failed", {
        operation_id: row.id,
        started_at: row.started_at?.toISOString(),
        max_runtime_minutes: maxRuntimeMinutes,
      });
    }
  }

  // 2. Active in Postgres, untouched for the grace period: does a job hold them?
  const candidates = await deps.db.query<OperationRow>(
    `select * from operations
      where status in ('pending', 'processing')
        and updated_at < now() - make_interval(secs => $1)
      order by created_at, id limit $2`,
    [graceMs / 1000, limit],
  );
  for (const row of candidates) {
    result.checked++;
    const job = await deps.queues.getJob(row.id);
    if (job && job.state !== "dead") continue; // waiting, delayed or running: its worker has it
    // Read again: the job may have finished (and been deleted) since the row was read.
    const current = await getOperation(deps.db, row.id);
    if (!current || isTerminal(current.status)) continue;
    if (job?.state === "dead") {
      const error = job.error || `job ${job.id} went to the dead letters`;
      if (await ctx(current).fail(error)) {
        result.failed_dead++;
        result.operation_ids.failed_dead.push(row.id);
        log.warn("operation's job is dead; failed", { operation_id: row.id, error });
      }
      continue;
    }
    if (current.cancel_requested_at) {
      if (await ctx(current).cancelled("Cancelled")) {
        result.cancelled++;
        result.operation_ids.cancelled.push(row.id);
        log.info("cancelled operation had no job; marked cancelled", { operation_id: row.id });
      }
      continue;
    }
    const { created } = await dispatchOperation(deps.queues, current);
    if (created) {
      result.requeued++;
      result.operation_ids.requeued.push(row.id);
      log.warn("active operation had no job; enqueued again", {
        operation_id: row.id,
        type: current.type,
        status: current.status,
      });
    }
  }
  if (result.requeued + result.failed_dead + result.cancelled + result.timed_out > 0) {
    log.info("reconciled", { ...result, operation_ids: undefined });
  }
  return result;
}
