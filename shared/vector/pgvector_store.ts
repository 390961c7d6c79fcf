/**
 * The `pgvector` store: one table per collection in a Postgres database with the `vector`
 * extension (PGlite in-process, a pglite-server, or a Postgres server with pgvector).
 *
 * Layout, for collection `col_x`: table `vec_col_x (id uuid primary key, document_id, uri,
 * chunk_index, payload jsonb, embedding vector(D))`, a btree on `document_id`, a pattern btree on
 * `uri` for prefix filters, and an HNSW index with `vector_cosine_ops` (pgvector indexes at most
 * 2000 dimensions; wider collections are searched by a scan). Aliases live in `vector_aliases`.
 *
 * Every data write is one statement: the multi-row upsert, the delete by document, the alias
 * switch. DDL that must happen together (create a table with its indexes; drop a table with its
 * aliases) is one simple-protocol script, which Postgres runs as one implicit transaction.
 *
 * Searches without filters walk the HNSW index (`hnsw.ef_search` raised to at least 2k for the
 * statement). Searches with a document or uri filter scan the matching rows exactly, since an
 * HNSW walk filtered afterwards can return fewer than k hits.
 */
import { type Db, dbErrorInfo } from "../db/db.ts";
import { AppError } from "../errors.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { assertCollectionName } from "./collection_name.ts";
import { CollectionNotFoundError, DimensionMismatchError } from "./errors.ts";
import { escapeLike } from "./uri_prefix.ts";
import {
  checkDocumentIds,
  type CheckedPoint,
  type CheckedSearchOptions,
  checkIds,
  checkPoints,
  checkSearchOptions,
  checkVector,
} from "./vector_input.ts";
import type {
  VectorHit,
  VectorPayload,
  VectorPoint,
  VectorSearchOptions,
  VectorStore,
  VectorStoreReadiness,
} from "./vector_store.ts";

/** Options of {@link PgvectorStore}. */
export interface PgvectorStoreOptions {
  /** Close the database in {@link PgvectorStore.close} (set when the store opened it). @default {false} */
  ownsDb?: boolean;
  /** Points per upsert statement. @default {256} */
  batchSize?: number;
  /** @default {getLogger("vector.pgvector")} */
  logger?: Logger;
}

/** pgvector's limits: the `vector` type and its HNSW index. */
const MAX_DIMENSION = 16000;
const MAX_HNSW_DIMENSION = 2000;
/** Attempts for DDL that may race with another process doing the same. */
const DDL_ATTEMPTS = 5;
/** Attempts for a search whose alias target was dropped under it. */
const SEARCH_ATTEMPTS = 3;

const UNDEFINED_TABLE = "42P01";
const RACE_CODES = new Set(["23505", "42P07", "42710"]);

function table(name: string): string {
  return `vec_${name}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** pgvector reports a bad dimension as data_exception with one of two messages. */
function dimensionsFromError(err: unknown): { expected?: number; actual?: number } | undefined {
  const info = dbErrorInfo(err);
  if (!info || info.code !== "22000") return undefined;
  const msg = errorMessage(err);
  let m = /expected (\d+) dimensions, not (\d+)/.exec(msg);
  if (m) return { expected: Number(m[1]), actual: Number(m[2]) };
  m = /different vector dimensions (\d+) and (\d+)/.exec(msg);
  if (m) return { expected: Number(m[1]), actual: Number(m[2]) };
  return undefined;
}

function vectorLiteral(v: Float32Array): string {
  // String() of a float32 widened to float64 is the shortest text that parses back to the same
  // float32, so pgvector stores exactly the caller's values.
  return `[${Array.from(v).join(",")}]`;
}

export class PgvectorStore implements VectorStore {
  readonly kind = "pgvector" as const;
  readonly #db: Db;
  readonly #ownsDb: boolean;
  readonly #batchSize: number;
  readonly #log: Logger;
  #prepared: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(db: Db, options: PgvectorStoreOptions = {}) {
    const { ownsDb = false, batchSize = 256, logger = getLogger("vector.pgvector") } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(
        `Cannot create the pgvector store: batchSize must be a positive integer, got ${batchSize}`,
      );
    }
    this.#db = db;
    this.#ownsDb = ownsDb;
    this.#batchSize = batchSize;
    this.#log = logger;
  }

  /** Creates the extension (when allowed) and the alias table, once per store. */
  #prepare(): Promise<void> {
    this.#prepared ??= this.#doPrepare().catch((err) => {
      this.#prepared = undefined;
      throw err;
    });
    return this.#prepared;
  }

  async #doPrepare(): Promise<void> {
    const reason = await this.#extensionProblem();
    if (reason) throw new AppError("unavailable", reason);
    await this.#raceSafe(() =>
      this.#db.exec(
        `create table if not exists vector_aliases (
           alias text primary key,
           target text not null,
           updated_at timestamptz not null default now()
         )`,
      )
    );
  }

  /** Undefined when the `vector` extension is usable (creating it if need be), else why not. */
  async #extensionProblem(): Promise<string | undefined> {
    const installed = await this.#db.query("select 1 from pg_extension where extname = 'vector'");
    if (installed.length > 0) return undefined;
    const available = await this.#db.query(
      "select 1 from pg_available_extensions where name = 'vector'",
    );
    if (available.length === 0) {
      const [v] = await this.#db.query<{ server_version: string }>("show server_version");
      return `The pgvector store cannot use this database: the vector extension is not installed ` +
        `on the server (PostgreSQL ${v?.server_version ?? "unknown"}). Install pgvector there, ` +
        `or point VECTOR_DATABASE_URL at a database that has it (PGlite, a pglite-server, ` +
        `or a Postgres image with pgvector)`;
    }
    try {
      await this.#raceSafe(() => this.#db.query("create extension if not exists vector"));
      return undefined;
    } catch (err) {
      return `The pgvector store cannot use this database: the vector extension is available ` +
        `but not created, and creating it failed: ${errorMessage(err)}. ` +
        `Run "create extension vector" in this database as a superuser`;
    }
  }

  /** Runs idempotent DDL, retrying when a concurrent process created the same object first. */
  async #raceSafe<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = dbErrorInfo(err)?.code;
        if (!code || !RACE_CODES.has(code) || attempt >= DDL_ATTEMPTS) throw err;
      }
    }
  }

  /** The physical collection a name refers to: an alias' target, or the name itself. */
  async #resolve(name: string): Promise<string> {
    const rows = await this.#db.query<{ target: string }>(
      "select target from vector_aliases where alias = $1",
      [name],
    );
    return rows[0]?.target ?? name;
  }

  async #dimension(collection: string): Promise<number | undefined> {
    const rows = await this.#db.query<{ dim: number }>(
      `select a.atttypmod as dim from pg_attribute a
        where a.attrelid = to_regclass($1) and a.attname = 'embedding' and not a.attisdropped`,
      [table(collection)],
    );
    return rows[0]?.dim;
  }

  async ensureCollection(name: string, dimension: number): Promise<void> {
    assertCollectionName(name);
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > MAX_DIMENSION) {
      throw new RangeError(
        `Cannot create vector collection ${name}: dimension must be an integer from 1 to ` +
          `${MAX_DIMENSION}, got ${dimension}`,
      );
    }
    await this.#prepare();
    const target = await this.#resolve(name);
    if (target !== name && (await this.#dimension(target)) === undefined) {
      throw new CollectionNotFoundError(`ensure collection through alias ${name}`, target);
    }
    const t = table(target);
    const ddl = [
      `create table if not exists ${t} (
         id uuid primary key,
         document_id text not null,
         uri text not null,
         chunk_index integer not null,
         payload jsonb not null,
         embedding vector(${dimension}) not null
       )`,
      `create index if not exists ${t}_doc on ${t} (document_id)`,
      `create index if not exists ${t}_uri on ${t} (uri text_pattern_ops)`,
    ];
    if (dimension <= MAX_HNSW_DIMENSION) {
      ddl.push(
        `create index if not exists ${t}_hnsw on ${t} using hnsw (embedding vector_cosine_ops)`,
      );
    }
    for (let attempt = 1;; attempt++) {
      const existing = await this.#dimension(target);
      if (existing !== undefined) {
        if (existing !== dimension) {
          throw new DimensionMismatchError("ensure collection", target, existing, dimension);
        }
        return;
      }
      if (dimension > MAX_HNSW_DIMENSION) {
        this.#log.warn("vector collection has no HNSW index; searches scan every point", {
          collection: target,
          dimension,
          max_indexed: MAX_HNSW_DIMENSION,
        });
      }
      try {
        await this.#db.exec(ddl.join(";\n"));
        return;
      } catch (err) {
        const code = dbErrorInfo(err)?.code;
        // Another process created it concurrently: loop and check what it created.
        if (!code || !RACE_CODES.has(code) || attempt >= DDL_ATTEMPTS) throw err;
      }
    }
  }

  async upsert(name: string, points: VectorPoint[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkPoints(name, points);
    if (checked.length === 0) return;
    await this.#prepare();
    const target = await this.#resolve(name);
    for (let i = 0; i < checked.length; i += this.#batchSize) {
      await this.#upsertBatch(name, target, checked.slice(i, i + this.#batchSize));
    }
  }

  async #upsertBatch(name: string, target: string, batch: CheckedPoint[]): Promise<void> {
    const t = table(target);
    try {
      await this.#db.query(
        `insert into ${t} (id, document_id, uri, chunk_index, payload, embedding)
         select id, document_id, uri, chunk_index, payload::jsonb, embedding::vector
           from unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[])
             as p(id, document_id, uri, chunk_index, payload, embedding)
         on conflict (id) do update set
           document_id = excluded.document_id,
           uri = excluded.uri,
           chunk_index = excluded.chunk_index,
           payload = excluded.payload,
           embedding = excluded.embedding`,
        [
          batch.map((p) => p.id),
          batch.map((p) => p.payload.document_id),
          batch.map((p) => p.payload.uri),
          batch.map((p) => p.payload.chunk_index),
          batch.map((p) => JSON.stringify(p.payload)),
          batch.map((p) => vectorLiteral(p.vector)),
        ],
      );
    } catch (err) {
      if (dbErrorInfo(err)?.code === UNDEFINED_TABLE) {
        throw new CollectionNotFoundError("upsert into", name);
      }
      const dims = dimensionsFromError(err);
      if (dims) {
        throw new DimensionMismatchError(
          "upsert into",
          name,
          dims.expected,
          batch[0]!.vector.length,
        );
      }
      throw err;
    }
  }

  async deleteByDocument(name: string, documentIds: string[]): Promise<void> {
    assertCollectionName(name);
    const ids = checkDocumentIds(`delete from ${name}`, documentIds);
    if (ids.length === 0) return;
    await this.#writeIgnoringMissing(
      name,
      (t) => `delete from ${t} where document_id = any($1::text[])`,
      [ids],
    );
  }

  async deleteByIds(name: string, ids: string[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkIds(`delete from ${name}`, ids);
    if (checked.length === 0) return;
    await this.#writeIgnoringMissing(name, (t) => `delete from ${t} where id = any($1::uuid[])`, [
      checked,
    ]);
  }

  async #writeIgnoringMissing(
    name: string,
    sql: (table: string) => string,
    params: (string[])[],
  ): Promise<void> {
    await this.#prepare();
    const target = await this.#resolve(name);
    try {
      await this.#db.query(sql(table(target)), params);
    } catch (err) {
      if (dbErrorInfo(err)?.code !== UNDEFINED_TABLE) throw err;
    }
  }

  async search(
    name: string,
    vector: Float32Array | number[],
    options: VectorSearchOptions,
  ): Promise<VectorHit[]> {
    assertCollectionName(name);
    const query = checkVector(`search ${name}`, vector);
    const o = checkSearchOptions(name, options);
    if (o.documentIds?.length === 0) return [];
    await this.#prepare();
    for (let attempt = 1;; attempt++) {
      const target = await this.#resolve(name);
      try {
        return await this.#searchTable(target, query, o);
      } catch (err) {
        if (dbErrorInfo(err)?.code === UNDEFINED_TABLE) {
          // An alias switched and its old target was dropped between our two statements: look
          // the alias up again. A missing physical collection has no points.
          if (target !== name && attempt < SEARCH_ATTEMPTS) continue;
          return [];
        }
        const dims = dimensionsFromError(err);
        if (dims) {
          const expected = dims.expected === query.length ? dims.actual : dims.expected;
          throw new DimensionMismatchError("search", name, expected, query.length);
        }
        throw err;
      }
    }
  }

  async #searchTable(
    target: string,
    query: Float32Array,
    o: CheckedSearchOptions,
  ): Promise<VectorHit[]> {
    const t = table(target);
    const params: (string | number | string[])[] = [vectorLiteral(query), o.k];
    const where: string[] = [];
    if (o.documentIds) {
      params.push(o.documentIds);
      where.push(`document_id = any($${params.length}::text[])`);
    }
    if (o.uriPrefix !== undefined) {
      if (o.uriPrefix === "/") {
        where.push(`uri like '/%'`);
      } else {
        params.push(o.uriPrefix);
        const p = `$${params.length}::text`;
        params.push(escapeLike(o.uriPrefix) + "/%");
        where.push(`(uri = ${p} or uri like $${params.length}::text)`);
      }
    }
    let threshold = "";
    if (o.scoreThreshold !== undefined) {
      params.push(o.scoreThreshold);
      threshold = `where score >= $${params.length}::float8`;
    }
    type Row = { id: string; score: number; payload: VectorPayload };
    let rows: Row[];
    if (where.length > 0) {
      // `offset 0` keeps the planner from flattening the subquery into an HNSW walk.
      rows = await this.#db.query<Row>(
        `select id, score, payload from (
           select id::text as id, payload, 1 - (embedding <=> $1::vector) as score
             from ${t} where ${where.join(" and ")} offset 0
         ) s ${threshold}
         order by score desc, id limit $2`,
        params,
      );
    } else {
      const efSearch = String(Math.min(1000, Math.max(40, 2 * o.k)));
      rows = await this.#db.transaction(async (tx) => {
        await tx.query("select set_config('hnsw.ef_search', $1, true)", [efSearch]);
        return await tx.query<Row>(
          `select id, score, payload from (
             select id::text as id, payload, 1 - (embedding <=> $1::vector) as score
               from ${t} order by embedding <=> $1::vector limit $2
           ) s ${threshold}
           order by score desc, id`,
          params,
        );
      });
    }
    return rows.map((r) => ({ id: r.id, score: Number(r.score), payload: r.payload }));
  }

  async count(name: string): Promise<number> {
    assertCollectionName(name);
    await this.#prepare();
    const target = await this.#resolve(name);
    try {
      const rows = await this.#db.query<{ n: number }>(
        `select count(*)::int as n from ${table(target)}`,
      );
      return rows[0]?.n ?? 0;
    } catch (err) {
      if (dbErrorInfo(err)?.code === UNDEFINED_TABLE) return 0;
      throw err;
    }
  }

  async drop(name: string): Promise<void> {
    assertCollectionName(name);
    await this.#prepare();
    const target = await this.#resolve(name);
    // Names passed the strict pattern, so inlining them as identifiers and literals is safe; one
    // script keeps the table and its aliases from outliving each other.
    await this.#db.exec(
      `drop table if exists ${table(target)};
       delete from vector_aliases where target = '${target}' or alias = '${target}'`,
    );
  }

  async setAlias(alias: string, target: string): Promise<string | undefined> {
    assertCollectionName(alias, "alias");
    assertCollectionName(target, "alias target");
    if (alias === target) {
      throw new TypeError(`Cannot point alias ${alias} at itself`);
    }
    await this.#prepare();
    const rows = await this.#db.query<{
      previous: string | null;
      applied: number;
      alias_is_collection: boolean;
    }>(
      `with prev as (select target from vector_aliases where alias = $1),
       ins as (
         insert into vector_aliases (alias, target)
         select $1, $2 where to_regclass($3) is not null and to_regclass($4) is null
         on conflict (alias) do update set target = excluded.target, updated_at = now()
         returning 1
       )
       select (select target from prev) as previous,
              (select count(*) from ins)::int as applied,
              to_regclass($4) is not null as alias_is_collection`,
      [alias, target, table(target), table(alias)],
    );
    const row = rows[0]!;
    if (row.applied === 0) {
      if (row.alias_is_collection) {
        throw new TypeError(`Cannot point alias ${alias} at ${target}: ${alias} is a collection`);
      }
      throw new CollectionNotFoundError(`point alias ${alias} at`, target);
    }
    return row.previous ?? undefined;
  }

  async resolveAlias(alias: string): Promise<string | undefined> {
    assertCollectionName(alias, "alias");
    await this.#prepare();
    const rows = await this.#db.query<{ target: string }>(
      "select target from vector_aliases where alias = $1",
      [alias],
    );
    return rows[0]?.target;
  }

  async deleteAlias(alias: string): Promise<void> {
    assertCollectionName(alias, "alias");
    await this.#prepare();
    await this.#db.query("delete from vector_aliases where alias = $1", [alias]);
  }

  async ready(): Promise<VectorStoreReadiness> {
    try {
      await this.#prepare();
      return { ok: true };
    } catch (err) {
      if (err instanceof AppError) return { ok: false, reason: err.message };
      return {
        ok: false,
        reason: `The pgvector store cannot reach its database: ${errorMessage(err)}`,
      };
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#ownsDb ? this.#db.close() : Promise.resolve();
    return this.#closed;
  }
}
