import postgres from "postgres";
import { BinaryParam, type Db, type Queryable, type SqlParam } from "./db.ts";
import { backoffDelay, resolveBackoff } from "../async/backoff.ts";

/** Reconnects wait 50 ms, doubling to 2 s, each in [d/2, d] (postgres.js takes seconds). */
const RECONNECT_BACKOFF = resolveBackoff({ delayMs: 50, maxDelayMs: 2000, jitter: 0.5 });

/** Options of {@link connectPostgres}. */
export interface PostgresOptions {
  /** Pool size. @default {10} */
  max?: number;
  /** Schema put first on every connection's search_path. @default {undefined (server default)} */
  schema?: string;
  /** Shown in pg_stat_activity. @default {"semantik"} */
  applicationName?: string;
  /** Whether to use named prepared statements (off for pgbouncer-like multiplexers). @default {true} */
  prepare?: boolean;
  /** Longest wait for a connection to open, in seconds. @default {10} */
  connectTimeoutS?: number;
}

// int8 (20) arrives as a number: counts and sizes stay far below 2^53.
const TYPES = {
  int8: {
    to: 20,
    from: [20],
    serialize: (x: unknown) => String(x),
    parse: (x: string) => Number(x),
  },
} as const;

type Sql = postgres.Sql<Record<string, unknown>>;

function queryable(sql: Sql | postgres.TransactionSql<Record<string, unknown>>): Queryable {
  return {
    async query<T>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
      // A BinaryParam goes as postgres.js's typed parameter, its bytes in binary (the vendored
      // driver sends every Uint8Array so: vendor/postgres, semantik patch 4).
      const args = params.some((p) => p instanceof BinaryParam)
        ? params.map((p) => p instanceof BinaryParam ? sql.typed(p.bytes as never, p.oid) : p)
        : params;
      const rows = await sql.unsafe(text, args as postgres.ParameterOrJSON<never>[]);
      return Array.from(rows) as T[];
    },
  };
}

/**
 * libpq's `host` parameter (`?host=`), which postgres.js would send to the server as a setting
 * (the server then refuses the connection): a directory (`/var/run/postgresql`, holding
 * `.s.PGSQL.<port>`) names a Unix socket, whose path is returned, so that a server on the same
 * host is reached without the TCP stack; a name or address replaces the url's host. Either way
 * the url comes back without the parameter.
 */
export function socketOf(url: string): { url: string; path?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url }; // postgres.js reports it in its own words
  }
  const host = parsed.searchParams.get("host");
  if (!host) return { url };
  parsed.searchParams.delete("host");
  if (!host.startsWith("/")) {
    parsed.hostname = host;
    return { url: parsed.href };
  }
  const port = parsed.port || "5432";
  return { url: parsed.href, path: `${host.replace(/\/+$/, "")}/.s.PGSQL.${port}` };
}

/** Connects to a Postgres server with postgres.js (TCP, or a Unix socket: {@link socketOf}). */
export function connectPostgres(url: string, options: PostgresOptions = {}): Db {
  const {
    max = 10,
    schema,
    applicationName = "semantik",
    prepare = true,
    connectTimeoutS = 10,
  } = options;
  const socket = socketOf(url);
  const sql: Sql = postgres(socket.url, {
    ...(socket.path ? { path: socket.path } : {}),
    max,
    prepare,
    types: TYPES as unknown as Record<string, postgres.PostgresType>,
    onnotice: () => {},
    idle_timeout: 60,
    connect_timeout: connectTimeoutS,
    // postgres.js waits (0.5-1) x min(3^failures / 100, 20) s before reconnecting, failures
    // counted across the pool: a few seconds of outage under load pushed that to 10-20 s, so a
    // Postgres that was back at once stayed unreachable for as long. Doubling from 50 ms up to 2 s
    // still spares a down server and finds a restarted one within about two seconds.
    backoff: (failures: number) => backoffDelay(failures + 1, RECONNECT_BACKOFF) / 1000,
    connection: {
      application_name: applicationName,
      ...(schema ? { search_path: `"${schema.replaceAll('"', '""')}",public` } : {}),
    },
  });
  const q = queryable(sql);
  return {
    driver: "postgres",
    query: q.query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return await sql.begin((tx) => fn(queryable(tx))) as T;
    },
    async exec(script: string): Promise<void> {
      await sql.unsafe(script).simple();
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}
