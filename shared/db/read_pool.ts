/**
 * Reads that may go to a Postgres read replica (`DATABASE_READ_URL`): search's vector and lexical
 * queries (the pgvector store on the main database) and the hydration of its results. Everything
 * else stays on the primary.
 *
 * A replica lags the primary (streaming replication is asynchronous): a read here may not see the
 * last writes. Callers that must not act on a missing row (a collection named in a request) ask
 * the primary again; search drops points whose chunk rows have not arrived yet (docs/SCALING.md).
 *
 * When the replica cannot be reached (refused or lost connection, shutting down, starting up, too
 * many connections) or cancels a statement that conflicts with its recovery, the statement runs
 * on the primary instead, the fallback is logged (once per outage) and counted (`onFallback`),
 * and the replica is left alone for `retryAfterMs` so that searches do not each pay its connect
 * timeout. Any other error (a bad statement, a missing table) is the caller's, as on the primary.
 */
import { type Db, dbErrorInfo, type Queryable, type SqlParam } from "./db.ts";
import type { Logger } from "../log/logger.ts";
import { errorMessage } from "../errors.ts";
import { withTimeout } from "../async/with_timeout.ts";

/** What search reads through: the primary itself, or a {@link ReadPool}. */
export type ReadDb = Queryable & Pick<Db, "transaction">;

/** Options of {@link ReadPool}. */
export interface ReadPoolOptions {
  log: Logger;
  /** Called once per statement sent to the primary because the replica failed. @default {none} */
  onFallback?: (reason: string) => void;
  /** How long the replica is skipped after it failed, in ms. @default {5000} */
  retryAfterMs?: number;
  /** Clock (tests). @default {Date.now} */
  now?: () => number;
}

/** SQLSTATEs of a replica that cannot serve now: its statement can run on the primary. */
function replicaUnavailable(err: unknown): boolean {
  const info = dbErrorInfo(err);
  if (!info) {
    // No SQLSTATE: a network error (ECONNREFUSED, ECONNRESET, and postgres.js' CONNECTION_CLOSED,
    // CONNECT_TIMEOUT, ...). Other errors (a callback's own) are not the replica's.
    const code = typeof err === "object" && err !== null
      ? (err as { code?: unknown }).code
      : undefined;
    return typeof code === "string" && /^(E[A-Z]+|CONNECT(ION)?_[A-Z_]+)$/.test(code);
  }
  const { code } = info;
  return code.startsWith("08") || // connection exception
    code === "57P01" || code === "57P02" || code === "57P03" || // shutdown, crash, starting up
    code === "53300" || // too many connections
    code === "40001"; // canceled: conflict with recovery (on a standby)
}

/** Routes reads to a replica, falling back to the primary when the replica cannot serve. */
export class ReadPool implements ReadDb {
  readonly replica: Db;
  readonly primary: Queryable & Pick<Db, "transaction">;
  readonly #log: Logger;
  readonly #onFallback: (reason: string) => void;
  readonly #retryAfterMs: number;
  readonly #now: () => number;
  /** Until when the replica is skipped (0: it is used). */
  #skipUntil = 0;
  #down = false;

  constructor(replica: Db, primary: Queryable & Pick<Db, "transaction">, options: ReadPoolOptions) {
    this.replica = replica;
    this.primary = primary;
    this.#log = options.log;
    this.#onFallback = options.onFallback ?? (() => {});
    this.#retryAfterMs = options.retryAfterMs ?? 5000;
    this.#now = options.now ?? Date.now;
  }

  /** Whether the last attempt on the replica failed (reads go to the primary meanwhile). */
  get replicaDown(): boolean {
    return this.#down;
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
    return this.#route((db) => db.query<T>(sql, params));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#route((db) => db.transaction(fn));
  }

  async #route<T>(run: (db: Queryable & Pick<Db, "transaction">) => Promise<T>): Promise<T> {
    if (this.#now() < this.#skipUntil) {
      this.#onFallback("skipped");
      return await run(this.primary);
    }
    try {
      const result = await run(this.replica);
      if (this.#down) {
        this.#down = false;
        this.#log.info("the database read replica answers again; search reads go to it");
      }
      return result;
    } catch (err) {
      if (!replicaUnavailable(err)) throw err;
      this.#skipUntil = this.#now() + this.#retryAfterMs;
      if (!this.#down) {
        this.#log.warn("the database read replica failed; search reads go to the primary", {
          err: errorMessage(err),
          retry_after_ms: this.#retryAfterMs,
        });
      }
      this.#down = true;
      this.#onFallback("error");
      return await run(this.primary);
    }
  }

  /**
   * Readiness of the replica, probed now: whether it answers, is in recovery (a standby, not a
   * second primary) and how far its replay is behind the primary's WAL, in bytes (null when the
   * primary's position cannot be read).
   */
  async probe(
    timeoutMs = 2000,
  ): Promise<{ ok: boolean; reason?: string; lag_bytes?: number | null }> {
    try {
      const [primary] = await withTimeout(
        this.primary.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn"),
        timeoutMs,
      ).catch(() => [undefined]);
      const [row] = await withTimeout(
        this.replica.query<{ standby: boolean; lag: number | null }>(
          `select pg_is_in_recovery() as standby,
                case when $1::text is null then null
                     else greatest(0, pg_wal_lsn_diff($1::text::pg_lsn,
                                                      pg_last_wal_replay_lsn()))::float8
                end as lag`,
          [primary?.lsn ?? null],
        ),
        timeoutMs,
      );
      if (!row?.standby) {
        return {
          ok: false,
          reason: "DATABASE_READ_URL is not a standby (pg_is_in_recovery() is false)",
        };
      }
      return { ok: true, lag_bytes: row.lag === null ? null : Number(row.lag) };
    } catch (err) {
      return {
        ok: false,
        reason: `the read replica does not answer (${
          errorMessage(err)
        }); search reads go to the primary`,
      };
    }
  }

  async close(): Promise<void> {
    await this.replica.close();
  }
}
