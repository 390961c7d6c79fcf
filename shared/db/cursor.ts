/**
 * Keyset pagination over `(created_at desc, id desc)`: a cursor is the last row's position,
 * opaque to clients (base64url JSON), stable while rows are added.
 *
 * The position keeps `created_at` exactly as the database has it, in microseconds since the epoch
 * (a JS `Date` keeps milliseconds: a cursor rounded to them skips every row that shares the
 * millisecond, and one statement inserts up to 1,000 rows with one `now()`). Queries select
 * {@link CURSOR_KEY_SQL} and filter with {@link cursorCondition}.
 */
import type { Queryable } from "./db.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "./uuid.ts";

export interface CursorPosition {
  /** `created_at` in microseconds since the Unix epoch, as decimal digits (exact, no float). */
  createdAtUs: string;
  id: string;
}

/** Selects a row's exact position as `cursor_key` (text: int8 could lose digits as a JS number). */
export const CURSOR_KEY_SQL =
  "(extract(epoch from created_at) * 1000000)::int8::text as cursor_key";

export function encodeCursor(pos: CursorPosition): string {
  const json = JSON.stringify([pos.createdAtUs, pos.id]);
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** Decodes a cursor from a client; a malformed one is a 400 `invalid_request`. */
export function decodeCursor(cursor: string): CursorPosition {
  try {
    const b64 = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const [us, id] = JSON.parse(atob(b64)) as [unknown, unknown];
    if (
      typeof us !== "string" || !/^-?[0-9]{1,17}$/.test(us) || typeof id !== "string" ||
      !isUuid(id)
    ) throw new Error("shape");
    return { createdAtUs: us, id };
  } catch {
    throw new AppError("invalid_request", `Invalid cursor: ${cursor.slice(0, 64)}`);
  }
}

/**
 * Decodes `cursor`, appends its two parameters to `params` and returns the condition selecting the
 * rows after it in `(created_at desc, id desc)` order. The time is rebuilt in SQL with integer
 * microseconds, so it equals the stored value exactly.
 */
export function cursorCondition(params: unknown[], cursor: string): string {
  const c = decodeCursor(cursor);
  params.push(c.createdAtUs, c.id);
  const us = params.length - 1;
  return `(created_at, id) < (timestamptz 'epoch' + $${us}::int8 * interval '1 microsecond', ` +
    `$${us + 1}::uuid)`;
}

/** Splits `limit + 1` fetched rows (each with {@link CURSOR_KEY_SQL}) into a page and the next cursor. */
export function pageOf<T extends { cursor_key: string; id: string }>(
  rows: T[],
  limit: number,
): { items: Omit<T, "cursor_key">[]; nextCursor: string | null } {
  const items = rows.slice(0, limit).map(({ cursor_key: _k, ...row }) => row);
  if (rows.length <= limit) return { items, nextCursor: null };
  const last = rows[limit - 1]!;
  return { items, nextCursor: encodeCursor({ createdAtUs: last.cursor_key, id: last.id }) };
}

/** Options of {@link keysetPage}. */
export interface KeysetPageOptions {
  /** The `from` of the query: a table name (trusted SQL, never user input). */
  from: string;
  /** The selected columns (trusted SQL); must include `created_at` and `id`. @default {"*"} */
  columns?: string;
  /** Conditions joined with `and` (trusted SQL), their parameters numbered from `$1`. */
  where: string[];
  /** The conditions' parameters. */
  params: unknown[];
  /** Rows per page. */
  limit: number;
  /** The client's cursor (the previous page's `nextCursor`). @default {undefined}: first page */
  cursor?: string;
}

/**
 * One page of rows, newest first, and the cursor of the next: the one keyset query of the
 * codebase. A malformed cursor is a 400 `invalid_request`.
 */
export async function keysetPage<T extends { id: string }>(
  db: Queryable,
  options: KeysetPageOptions,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const { from, columns = "*", limit } = options;
  const where = [...options.where];
  const params = [...options.params];
  if (options.cursor) where.push(cursorCondition(params, options.cursor));
  params.push(limit + 1);
  const rows = await db.query<T & { cursor_key: string }>(
    `select ${columns}, ${CURSOR_KEY_SQL} from ${from} where ${where.join(" and ")}
      order by created_at desc, id desc limit $${params.length}`,
    params as never,
  );
  return pageOf(rows, limit) as unknown as { items: T[]; nextCursor: string | null };
}
