/**
 * The database layer: one small interface, two drivers (postgres.js for a server, PGlite for the
 * embedded default). All SQL in the project is plain parameterised SQL (`$1`, `$2`, ...) that
 * Postgres 15 and PGlite (Postgres 18) both run, and both drivers return the same JS types:
 * int8 and counts as `number`, timestamptz as `Date`, json/jsonb parsed, arrays as arrays.
 * JSON parameters are passed as plain objects with a `::jsonb` cast; the driver serialises them.
 */

/**
 * A parameter in Postgres's binary format: `bytes` are what the receive function of the type
 * `oid` reads (an array's `array_recv` layout, pgvector's `vector_recv`, ...), sent with format
 * code 1, so that neither side writes or parses text. Both drivers send it so; `oid` also types
 * the parameter in the statement.
 */
export class BinaryParam {
  constructor(readonly oid: number, readonly bytes: Uint8Array) {
    if (!Number.isInteger(oid) || oid <= 0) throw new RangeError(`not a type oid: ${oid}`);
  }
}

export type SqlParam =
  | BinaryParam
  | string
  | number
  | boolean
  | null
  | Date
  | Uint8Array
  | readonly string[]
  | readonly number[]
  | Record<string, unknown>
  | readonly Record<string, unknown>[];

export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs one parameterised statement and returns its rows. */
  query<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly driver: "postgres" | "pglite";
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** A database error with the server's SQLSTATE, whichever driver raised it. */
export interface DbErrorInfo {
  code: string;
  constraint?: string;
  detail?: string;
}

/** Reads SQLSTATE and constraint from an error of either driver; undefined for other errors. */
export function dbErrorInfo(err: unknown): DbErrorInfo | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as Record<string, unknown>;
  const code = typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (!code) return undefined;
  const constraint = (e.constraint_name ?? e.constraint) as string | undefined;
  return { code, constraint, detail: e.detail as string | undefined };
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const info = dbErrorInfo(err);
  return info?.code === "23505" && (constraint === undefined || info.constraint === constraint);
}

/** Postgres serialization failure or deadlock: safe to retry the transaction. */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = dbErrorInfo(err)?.code;
  return code === "40001" || code === "40P01";
}
