/**
 * Test databases: a fresh schema on the test server (migrated, dropped afterwards) or a fresh
 * in-memory PGlite. Tests reach the server at `TEST_DATABASE_URL`.
 */
import type { Db } from "../db/db.ts";
import { connectPostgres } from "../db/postgres_driver.ts";
import { openPglite } from "../db/pglite_driver.ts";
import { migrate } from "../db/migrate.ts";

export function testDatabaseUrl(): string {
  return Deno.env.get("TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
}

export interface TestDb {
  db: Db;
  /** Schema name on the server (undefined for PGlite). */
  schema?: string;
  /** A URL that opens this schema (`?search_path=`), for subprocesses; undefined for PGlite. */
  url?: string;
  /** Drops the schema (or the PGlite instance) and closes the connection. */
  cleanup(): Promise<void>;
}

export function randomSuffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

/** Options of {@link createTestDb}. */
export interface TestDbOptions {
  /** Apply the project's migrations. @default {true} */
  migrate?: boolean;
  /** Pool size for the server driver. @default {5} */
  max?: number;
  /** The server's database (a schema is made in it). @default {testDatabaseUrl()} */
  url?: string;
}

/**
 * Whether the test server offers pgvector (`create extension vector` would work). The tests that
 * check what a server without it answers run only where it does not (CI's server has none; a
 * developer's may): there the condition they need cannot be made.
 */
export async function testServerOffersPgvector(): Promise<boolean> {
  const admin = connectPostgres(testDatabaseUrl(), { max: 1 });
  try {
    const rows = await admin.query(
      "select 1 from pg_available_extensions where name = 'vector'",
    );
    return rows.length > 0;
  } finally {
    await admin.close();
  }
}

/** A fresh, migrated schema on the test Postgres server. */
export async function createServerTestDb(options: TestDbOptions = {}): Promise<TestDb> {
  const { migrate: doMigrate = true, max = 5 } = options;
  const base = options.url ?? testDatabaseUrl();
  const schema = `t_${randomSuffix()}`;
  const admin = connectPostgres(base, { max: 1 });
  await admin.query(`create schema "${schema}"`);
  await admin.close();
  const db = connectPostgres(base, { schema, max });
  if (doMigrate) await migrate(db);
  const url = withSearchPath(base, schema);
  return {
    db,
    schema,
    url,
    async cleanup() {
      await db.close();
      const a = connectPostgres(base, { max: 1 });
      try {
        await a.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await a.close();
      }
    },
  };
}

/** A fresh, migrated in-memory PGlite. */
export async function createPgliteTestDb(options: TestDbOptions = {}): Promise<TestDb> {
  const db = await openPglite();
  if (options.migrate ?? true) await migrate(db);
  return { db, cleanup: () => db.close() };
}

export function createTestDb(
  driver: "postgres" | "pglite",
  options: TestDbOptions = {},
): Promise<TestDb> {
  return driver === "postgres" ? createServerTestDb(options) : createPgliteTestDb(options);
}

/** Runs `fn` with a fresh test database and always cleans up. */
export async function withTestDb<T>(
  driver: "postgres" | "pglite",
  fn: (t: TestDb) => Promise<T>,
  options: TestDbOptions = {},
): Promise<T> {
  const t = await createTestDb(driver, options);
  try {
    return await fn(t);
  } finally {
    await t.cleanup();
  }
}

export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("search_path", `${schema},public`);
  return u.toString();
}

/** HNSW indexes (0 or 1) on the pgvector table of vector collection `collection` in `db`. */
export async function hnswIndexCount(db: Pick<Db, "query">, collection: string): Promise<number> {
  return (await db.query(
    `select 1 from pg_indexes where tablename = $1 and indexdef like '%USING hnsw%'`,
    [`vec_${collection}`],
  )).length;
}
