import { PGlite, types } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { BinaryParam, type Db, type Queryable, type SqlParam } from "./db.ts";

/** Options of {@link openPglite}. */
export interface PgliteOptions {
  /** Directory of the database files, or `memory://` for a throwaway one. @default {"memory://"} */
  dataDir?: string;
}

const parsers = { [types.INT8]: (x: string) => Number(x) };

function queryable(
  pg: { query: PGlite["query"] },
  defaults: PGlite["serializers"],
): Queryable {
  return {
    async query<T>(text: string, params: readonly SqlParam[] = []): Promise<T[]> {
      if (!params.some((p) => p instanceof BinaryParam)) {
        return (await pg.query<T>(text, params as unknown[])).rows;
      }
      // PGlite sends a value its serializer returns as bytes in binary. Serializers go by type,
      // so another parameter of a BinaryParam's type still gets the default (text); the default
      // for a type PGlite does not know would send the bytes' numbers joined by commas.
      const paramTypes = params.map((p) => p instanceof BinaryParam ? p.oid : 0);
      const serializers: Record<number, (x: unknown) => unknown> = {};
      for (const p of params) {
        if (!(p instanceof BinaryParam)) continue;
        const text = defaults[p.oid] ?? String;
        serializers[p.oid] = (x) => x instanceof Uint8Array ? x : text(x);
      }
      const values = params.map((p) => p instanceof BinaryParam ? p.bytes : p);
      const res = await pg.query<T>(text, values as unknown[], {
        paramTypes,
        serializers: serializers as never,
      });
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
  const q = queryable(pg, pg.serializers);
  return {
    driver: "pglite",
    pglite: pg,
    query: q.query,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return pg.transaction((tx) => fn(queryable(tx, pg.serializers)));
    },
    async exec(script: string): Promise<void> {
      await pg.exec(script);
    },
    async close(): Promise<void> {
      if (!pg.closed) await pg.close();
    },
  };
}
