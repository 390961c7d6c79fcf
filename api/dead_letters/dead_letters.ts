/**
 * Dead-letter admin, as the API calls it: a user sees and requeues the dead jobs of their own
 * operations (an operation's job id is the operation id). Other dead jobs (embedding batches,
 * maintenance) are nobody's.
 *
 * Requeue reopens the failed operation through `shared/operations` (pending again, "Requeued"),
 * publishes that state as the operation's event, and puts the job back on its queue, rebuilt
 * from the operation id whatever the dead job kept.
 */
import {
  AppError,
  type Db,
  type EventPublisher,
  isUuid,
  type Logger,
  type QueueClient,
  reopenFailedOperation,
} from "@semantik/shared";

/** A dead job as the API shows it. */
export interface DeadLetterJson {
  id: string;
  task: string;
  queue: string;
  operation_id: string | null;
  attempts: number;
  error: string;
  failed_at: string;
}

/** What the dead-letter functions work with. */
export interface DeadLetterDeps {
  db: Db;
  queues: QueueClient;
  events: EventPublisher;
  log: Logger;
}

/** How many dead jobs are read to find a user's (the dead-letter streams are capped). */
const SCAN_LIMIT = 1000;

async function ownedOperations(db: Db, userId: string, ids: string[]): Promise<Set<string>> {
  const uuids = ids.filter(isUuid);
  if (uuids.length === 0) return new Set();
  const rows = await db.query<{ id: string }>(
    "select id from operations where owner_id = $1 and id = any($2::uuid[])",
    [userId, uuids],
  );
  return new Set(rows.map((r) => r.id));
}

/** The dead jobs of `userId`'s operations, newest first. */
export async function listDeadLetters(
  deps: DeadLetterDeps,
  options: { userId: string; limit: number },
): Promise<DeadLetterJson[]> {
  const jobs = await deps.queues.listDeadLetters({ limit: SCAN_LIMIT });
  const owned = await ownedOperations(deps.db, options.userId, jobs.map((j) => j.id));
  return jobs.filter((j) => owned.has(j.id)).slice(0, options.limit).map((j) => ({
    id: j.id,
    task: j.name,
    queue: j.queue,
    operation_id: j.id,
    attempts: j.attempts,
    error: j.error,
    failed_at: new Date(j.failedAt).toISOString(),
  }));
}

/**
 * Requeues the dead job `id` of one of `userId`'s operations: 404 when there is none, 403 when
 * the operation is another user's, 409 when the operation is not failed or its collection is
 * busy, or when the dead job went meanwhile.
 */
export async function requeueDeadLetter(
  deps: DeadLetterDeps,
  options: { userId: string; id: string },
): Promise<void> {
  const { userId, id } = options;
  const job = (await deps.queues.listDeadLetters({ limit: SCAN_LIMIT })).find((j) => j.id === id);
  const [row] = job && isUuid(id)
    ? await deps.db.query<{ owner_id: string }>("select owner_id from operations where id = $1", [
      id,
    ])
    : [];
  if (!job || !row) throw new AppError("not_found", `No dead letter with id ${id}`);
  if (row.owner_id !== userId) {
    throw new AppError("forbidden", `Dead letter ${id} belongs to another user`);
  }
  // The operation failed with its job; it becomes pending again so the job can run it.
  const reopened = await reopenFailedOperation(deps.db, id);
  if (!reopened) {
    throw new AppError(
      "conflict",
      `Cannot requeue ${id}: its operation is not failed, or its collection is busy`,
    );
  }
  try {
    await deps.events.publish(reopened);
  } catch (err) {
    // The row is the truth: a client that missed the event gets a snapshot on reconnect.
    deps.log.warn("cannot publish operation event", { operation_id: id, err });
  }
  if (!(await deps.queues.requeueDeadLetter(id, job.queue, { payload: { operation_id: id } }))) {
    throw new AppError("conflict", `Dead letter ${id} was requeued or removed meanwhile`);
  }
}
