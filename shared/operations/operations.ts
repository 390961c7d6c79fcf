/**
 * Operation rows in Postgres: create (one active per collection), read, list, and every other
 * write. This module is the one writer of the `operations` table; a write that changes what
 * clients see reserves its event in the same UPDATE (`EVENT_RESERVATION`) and returns the row for
 * the caller to publish. A write that ends an operation also records its webhook deliveries (the
 * outbox, `shared/webhooks/webhook_outbox.ts`) in the same transaction.
 */
import type { Queryable } from "../db/db.ts";
import { EVENT_RESERVATION } from "../events/event_publisher.ts";
import { keysetPage } from "../db/cursor.ts";
import { AppError } from "../errors.ts";
import type { OperationRow, OperationStatus, OperationType } from "./operation_types.ts";
import { isTerminal } from "./operation_types.ts";
import { recordWebhookDeliveries } from "../webhooks/webhook_outbox.ts";

export interface NewOperation {
  collectionId: string;
  ownerId: string;
  type: OperationType;
  config?: Record<string, unknown>;
}

/**
 * Inserts a pending operation. The partial unique index `operations_one_active_per_collection`
 * makes "one active write operation per collection" hold under any concurrency: a second one is a
 * 409 `conflict` naming the active operation.
 */
export async function insertOperation(db: Queryable, op: NewOperation): Promise<OperationRow> {
  // ON CONFLICT against the partial index keeps a surrounding transaction usable, so the
  // conflict can name the operation that holds the collection.
  const [row] = await db.query<OperationRow>(
    `insert into operations (id, collection_id, owner_id, type, config)
     values ($1, $2, $3, $4, $5::jsonb)
     on conflict (collection_id) where status in ('pending', 'processing') do nothing
     returning *`,
    [crypto.randomUUID(), op.collectionId, op.ownerId, op.type, op.config ?? {}],
  );
  if (row) return row;
  const [active] = await db.query<{ id: string; type: string }>(
    `select id, type from operations
      where collection_id = $1 and status in ('pending', 'processing') limit 1`,
    [op.collectionId],
  );
  throw new AppError(
    "conflict",
    `Cannot start ${op.type}: collection ${op.collectionId} already has an active operation` +
      (active ? ` (${active.type} ${active.id})` : ""),
    active ? { active_operation_id: active.id } : undefined,
  );
}

export async function getOperation(db: Queryable, id: string): Promise<OperationRow | undefined> {
  const [row] = await db.query<OperationRow>("select * from operations where id = $1", [id]);
  return row;
}

/** The operation if it exists and belongs to `userId`: 404 when missing, 403 when not theirs. */
export async function getOwnedOperation(
  db: Queryable,
  { userId, operationId: id }: { userId: string; operationId: string },
): Promise<OperationRow> {
  const row = await getOperation(db, id);
  if (!row) throw new AppError("not_found", `Operation ${id} does not exist`);
  if (row.owner_id !== userId) {
    throw new AppError("forbidden", `Operation ${id} belongs to another user`);
  }
  return row;
}

/** Which of a user's operations a list or a bulk cancel selects (each field narrows it). */
export interface OperationFilter {
  /** Any of these statuses. @default {undefined: any} */
  statuses?: readonly OperationStatus[];
  /** Any of these types. @default {undefined: any} */
  types?: readonly OperationType[];
  /** One collection. @default {undefined: any} */
  collectionId?: string;
  /** Created at or after this time. @default {undefined} */
  createdAfter?: Date;
  /** Created before this time. @default {undefined} */
  createdBefore?: Date;
}

export interface ListOperationsOptions extends OperationFilter {
  ownerId: string;
  /** One status (the older single-value filter; joins `statuses`). @default {undefined} */
  status?: OperationStatus;
  limit: number;
  cursor?: string;
}

/** The `where` conditions (and their parameters, `$1` = owner) of an owner's filter. */
function filterConditions(
  ownerId: string,
  filter: OperationFilter,
): { where: string[]; params: unknown[] } {
  const params: unknown[] = [ownerId];
  const where = ["owner_id = $1"];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    where.push(sql(params.length));
  };
  if (filter.statuses) add((n) => `status = any($${n}::text[])`, [...filter.statuses]);
  if (filter.types) add((n) => `type = any($${n}::text[])`, [...filter.types]);
  if (filter.collectionId) add((n) => `collection_id = $${n}`, filter.collectionId);
  if (filter.createdAfter) {
    add((n) => `created_at >= $${n}::timestamptz`, filter.createdAfter.toISOString());
  }
  if (filter.createdBefore) {
    add((n) => `created_at < $${n}::timestamptz`, filter.createdBefore.toISOString());
  }
  return { where, params };
}

export async function listOperations(
  db: Queryable,
  options: ListOperationsOptions,
): Promise<{ items: OperationRow[]; nextCursor: string | null }> {
  let statuses = options.statuses;
  if (options.status) {
    statuses = statuses ? statuses.filter((s) => s === options.status) : [options.status];
  }
  const { where, params } = filterConditions(options.ownerId, { ...options, statuses });
  return await keysetPage<OperationRow>(db, {
    from: "operations",
    where,
    params,
    limit: options.limit,
    cursor: options.cursor,
  });
}

/** Ids of the owner's active (pending or processing) operations that match `filter`, oldest first. */
export async function listActiveOperationIds(
  db: Queryable,
  { ownerId, filter }: { ownerId: string; filter: OperationFilter },
): Promise<string[]> {
  const active = (filter.statuses ?? ["pending", "processing"]).filter((s) =>
    s === "pending" || s === "processing"
  );
  if (active.length === 0) return [];
  const { where, params } = filterConditions(ownerId, { ...filter, statuses: active });
  const rows = await db.query<{ id: string }>(
    `select id from operations where ${where.join(" and ")} order by created_at, id`,
    params as never,
  );
  return rows.map((r) => r.id);
}

/** Options of {@link updateActiveOperation}. */
export interface UpdateActiveOperationOptions {
  /** The `set` list (without `updated_at` and the event reservation, which are added). */
  set: string;
  /** Parameters of `set` and `where`, numbered from `$2` (`$1` is the operation id). */
  params: unknown[];
  /** Which rows may be written. @default {"status in ('pending', 'processing')"} */
  where?: string;
  /** The run epoch the row must still have (fences off an earlier run). @default {undefined: none} */
  runEpoch?: number;
}

/**
 * Writes an active operation with an event reservation (the task context's writes): the new row,
 * or undefined when the row no longer matches (finished elsewhere, or a newer run owns it).
 * When the write ends the operation, its webhook deliveries are recorded too: pass the
 * transaction of the write (`db.transaction`), so the two commit together or not at all.
 */
export async function updateActiveOperation(
  db: Queryable,
  id: string,
  options: UpdateActiveOperationOptions,
): Promise<OperationRow | undefined> {
  const { set, params, where = "status in ('pending', 'processing')", runEpoch } = options;
  const args = [id, ...params];
  let fence = "";
  if (runEpoch !== undefined) {
    args.push(runEpoch);
    fence = ` and run_epoch = $${args.length}`;
  }
  const [row] = await db.query<OperationRow>(
    `update operations set ${set}, ${EVENT_RESERVATION}, updated_at = now()
      where id = $1 and ${where}${fence} returning *`,
    args as never,
  );
  if (row && isTerminal(row.status)) await recordWebhookDeliveries(db, row);
  return row;
}

/**
 * Flags a cancel on an active operation (its worker stops at its next checkpoint): the row, or
 * undefined when it already finished.
 */
export async function requestCancel(db: Queryable, id: string): Promise<OperationRow | undefined> {
  const [row] = await db.query<OperationRow>(
    `update operations set cancel_requested_at = coalesce(cancel_requested_at, now()),
            updated_at = now()
      where id = $1 and status in ('pending', 'processing') returning *`,
    [id],
  );
  return row;
}

/**
 * Makes a failed operation pending again (its dead job is requeued), with an event reservation
 * for the caller to publish: the row, or undefined when it is not failed or its collection has
 * another active operation.
 */
export async function reopenFailedOperation(
  db: Queryable,
  id: string,
): Promise<OperationRow | undefined> {
  const [row] = await db.query<OperationRow>(
    `update operations set status = 'pending', error_message = null, completed_at = null,
            cancel_requested_at = null, message = 'Requeued', ${EVENT_RESERVATION},
            updated_at = now()
      where id = $1 and status = 'failed'
        and not exists (select 1 from operations o where o.collection_id = operations.collection_id
                          and o.id <> operations.id and o.status in ('pending', 'processing'))
      returning *`,
    [id],
  );
  return row;
}

/** Options of {@link deleteFinishedOperations}. */
export interface DeleteFinishedOperationsOptions {
  /** Finished longer ago than this many days. */
  olderThanDays: number;
  /** At most this many rows. */
  limit: number;
}

/** Deletes a batch of operations finished before the retention; returns their ids. */
export async function deleteFinishedOperations(
  db: Queryable,
  options: DeleteFinishedOperationsOptions,
): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `delete from operations where id in (
       select id from operations
        where status in ('completed', 'failed', 'cancelled')
          and coalesce(completed_at, updated_at) < now() - make_interval(days => $1)
        limit $2)
     returning id`,
    [options.olderThanDays, options.limit],
  );
  return rows.map((r) => r.id);
}
