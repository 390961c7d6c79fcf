/** Publishing operation events without a task context (tests and benchmarks). */
import type { Queryable } from "../db/db.ts";
import { EVENT_RESERVATION, type EventPublisher } from "../events/event_publisher.ts";
import type { OperationEvent } from "../events/operation_event.ts";
import type { OperationRow } from "../operations/operation_types.ts";

/**
 * Publishes `row` (with `over` applied) as its next write would, without writing Postgres: the
 * reservation that write makes (`event_seq + 1`) is made on the object. For tests that only look
 * at Redis, and for rows that exist only in their events.
 */
export function publishNext(
  pub: EventPublisher,
  row: OperationRow,
  over: Partial<OperationRow> = {},
): Promise<OperationEvent | undefined> {
  row.event_seq = Number(row.event_seq ?? 0) + 1;
  return pub.publish({ ...row, ...over });
}

/**
 * Writes `set` to operation `id` as a task context does (reserving an event in the same UPDATE),
 * publishes the new row and returns it.
 */
export async function writeAndPublish(
  db: Queryable,
  pub: EventPublisher,
  id: string,
  set: Partial<OperationRow> = {},
): Promise<OperationRow> {
  const entries = Object.entries(set);
  const sets = [...entries.map(([k], i) => `${k} = $${i + 2}`), EVENT_RESERVATION];
  const [row] = await db.query<OperationRow>(
    `update operations set ${sets.join(", ")}, updated_at = now() where id = $1 returning *`,
    [id, ...entries.map(([, v]) => v)] as never,
  );
  if (!row) throw new Error(`Cannot write operation ${id}: no such row`);
  await pub.publish(row);
  return row;
}

/**
 * An operation row that exists only in memory: processing, attempt 1, no events yet, fresh ids
 * (`over` applied last). For tests of the event path that do not need Postgres.
 */
export function operationRowFixture(over: Partial<OperationRow> = {}): OperationRow {
  const now = new Date();
  return {
    id: crypto.randomUUID(),
    collection_id: crypto.randomUUID(),
    owner_id: crypto.randomUUID(),
    type: "index",
    status: "processing",
    progress: 0,
    message: "",
    error_message: null,
    config: {},
    metadata: {},
    attempts: 1,
    event_seq: 0,
    run_epoch: 0,
    cancel_requested_at: null,
    created_at: now,
    updated_at: now,
    started_at: now,
    completed_at: null,
    ...over,
  };
}
