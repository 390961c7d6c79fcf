import { PGlite, types } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import type { Db, Queryable, SqlParam } from "./db.ts";

/** Options of {@link openPglite}. */
export interface PgliteOptions {
  /** Directory of the database files, or `memory://` for a throwaway one. @default {"memory://"} */
  dataDir?: string;
}

const parsers = { [types.INT8]: (x: string) => Number(x) };

function queryable(pg: { query: PGlite["query"] }): Queryable {
  return {
    async query<T>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
      const res = await pg.query<T>(text, params as unknown[]);
      return res.rows;
    },
  };
}

/**
 * Opens an embedded PGlite database with the pgvector extension loaded. PGlite is one session:
 * statements from concurrent callers are serialised, and a transaction holds the database.
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Db & { pglite: PGlite }> {
  const { dataDir = "memory://" } = options;
  const pg = await PGlite.create({ dataDir, extensions: { vector }, parsers });
  const q = queryable(pg);
  return {
    driver: "pglite",
    pglite: pg,
    query: q.query,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return pg.transaction((tx) => fn(queryable(tx)));
    },
    async exec(script: string): Promise<void> {
      await pg.exec(script);
    },
    async close(): Promise<void> {
      if (!pg.closed) await pg.close();
    },
  };
}
