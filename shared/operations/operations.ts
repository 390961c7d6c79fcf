/** Operation rows in Postgres: create (one active per collection), read, list. */
import type { Queryable } from "../db/db.ts";
import { decodeCursor, pageOf } from "../db/cursor.ts";
import { AppError } from "../errors.ts";
import type { OperationRow, OperationStatus, OperationType } from "./operation_types.ts";

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
  userId: string,
  id: string,
): Promise<OperationRow> {
  const row = await getOperation(db, id);
  if (!row) throw new AppError("not_found", `Operation ${id} does not exist`);
  if (row.owner_id !== userId) {
    throw new AppError("forbidden", `Operation ${id} belongs to another user`);
  }
  return row;
}

export interface ListOperationsOptions {
  ownerId: string;
  status?: OperationStatus;
  collectionId?: string;
  limit: number;
  cursor?: string;
}

export async function listOperations(
  db: Queryable,
  options: ListOperationsOptions,
): Promise<{ items: OperationRow[]; nextCursor: string | null }> {
  const params: unknown[] = [options.ownerId];
  const where = ["owner_id = $1"];
  if (options.status) {
    params.push(options.status);
    where.push(`status = $${params.length}`);
  }
  if (options.collectionId) {
    params.push(options.collectionId);
    where.push(`collection_id = $${params.length}`);
  }
  if (options.cursor) {
    const c = decodeCursor(options.cursor);
    params.push(c.createdAt, c.id);
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(options.limit + 1);
  const rows = await db.query<OperationRow>(
    `select * from operations where ${where.join(" and ")}
      order by created_at desc, id desc limit $${params.length}`,
    params as never,
  );
  return pageOf(rows, options.limit);
}
