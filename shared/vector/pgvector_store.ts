/**
 * The `pgvector` store: one table per collection in a Postgres database with the `vector`
 * extension (PGlite in-process, a pglite-server, or a Postgres server with pgvector).
 *
 * Layout, for collection `col_x`: table `vec_col_x (id uuid primary key, document_id, uri,
 * chunk_index, payload jsonb, embedding vector(D))`, a btree on `document_id`, a pattern btree on
 * `uri` for prefix filters, and an HNSW index with `vector_cosine_ops` (pgvector indexes at most
 * 2000 dimensions; wider collections are searched by a scan). Aliases live in `vector_aliases`.
 * A bulk load (`ensureCollection(..., {bulkLoad: true})`) creates the table without the HNSW
 * index and `finishBulkLoad` builds it over every point at once: inserting each point into the
 * graph cost about six times the CPU of building it afterwards (300 points of 384 dimensions in
 * a pglite-server: 1.0-1.3 s against 0.30 s of inserts plus 0.12 s of build).
 *
 * With an indexing threshold (`indexingThresholdKb`, in the unit of Qdrant's
 * `indexing_threshold_kb`, below which Qdrant leaves a segment unindexed) a table gets no HNSW
 * index while its vectors are smaller than it: searches scan every point (exact recall; at
 * 6,667 points of 384 dimensions 4-5 ms more than a graph walk on a native server, 8 ms in
 * PGlite) and no graph is built for a small collection (that size: 2 s of build on a native
 * server, 8 s in PGlite). `finishBulkLoad`, `ensureCollection` and the upserts outside a bulk
 * load build it once the table has grown past the threshold.
 *
 * Vectors travel in Postgres's binary format (`pgvector_binary.ts`): an upsert's as one
 * `vector[]`, a search's as a `float4[]` cast to `vector`, so neither side writes or parses
 * floats as text (for 2,176 vectors of 384: 11.4 MB of text and about 0.15 s of a client's CPU
 * to write it, against 3.4 MB copied).
 *
 * Every data write is one statement: the multi-row upsert, the delete by document, the alias
 * switch. DDL that must happen together (create a table with its indexes; drop a table with its
 * aliases) is one simple-protocol script, which Postgres runs as one implicit transaction.
 *
 * Searches without filters walk the HNSW index where there is one (`hnsw.ef_search` raised to
 * at least 2k for the statement). Searches with a document or uri filter scan the matching rows
 * exactly, since an HNSW walk filtered afterwards can return fewer than k hits.
 *
 * Lexical retrieval: `lexical tsvector` holds the chunk text's terms from the project's tokenizer
 * (`lexical.ts`: lower case, identifiers split into parts and kept whole), computed at insert by
 * `to_tsvector('simple', <the terms joined by spaces>)` (the text itself is not kept), with a GIN
 * index. A query becomes an OR of its words (an identifier: its whole form, or its parts as a
 * phrase), ranked by `ts_rank` with length normalisation over a bounded candidate set read in
 * table order: every chunk holding one of the query's rare words (the rarest ones, by the
 * table's statistics, whose chunks add up to at most {@link LEXICAL_RARE_BUDGET}); without rare
 * words, at most {@link LEXICAL_CANDIDATES} chunks holding every word, and only when those are
 * fewer than k as many holding the rarest word; then, still fewer than k, k holding any word.
 * Each list ranks its candidates and keeps its best k in SQL, and is read by a sequential scan
 * that stops at its limit or through the GIN index, whichever the statistics say costs less
 * (`seqScanPays`: a common word's thousands of postings are never all read, a rare word's
 * chunks are never looked for row by row). The tsqueries go to Postgres as constants
 * (`$n::tsquery`, in the form `to_tsquery('simple', ...)` gives). So a word that is in
 * thousands of chunks never has them all read and ranked, and a rare word's chunks are always
 * ranked (document frequency, which `ts_rank` lacks, decides what is read). The statistics are
 * the tsvector's `most_common_elems` in `pg_stats`: an upsert or `setLexical` analyzes its
 * table once the store wrote enough rows to it (PGlite runs no autovacuum), and searches read
 * them again after at most 30 s. For the same reason the store merges the GIN index's pending
 * list (which every search reads whole) every {@link GIN_MERGE_ROWS} rows of terms it writes and
 * at the end of a bulk load.
 *
 * Hybrid search: on a server the dense and lexical lists run at once on two connections, ids and
 * scores only, and the fused hits' payloads are read in one statement after. On PGlite (one
 * thread: statements run in turn, each a round trip of 0.3-0.6 ms) both lists and their payloads
 * are one statement. The dense list walks the HNSW graph as wide as a dense search for k would.
 *
 * Tables made before lexical retrieval get the column and
 * the index (`alter table`) when `ensureCollection`, an upsert or `setLexical` meets them; their
 * old rows have no terms until `setLexical` (the lexical backfill) or an upsert with text writes
 * them. Tables made by the first hybrid-search code (a `lexical_terms text` column with `lexical`
 * generated from it) keep working: their writes go to `lexical_terms`.
 */
import { BinaryParam, type Db, dbErrorInfo, type Queryable, type SqlParam } from "../db/db.ts";
import type { ReadDb } from "../db/read_pool.ts";
import { AppError } from "../errors.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { assertCollectionName } from "./collection_name.ts";
import { probeWithin } from "./probe_within.ts";
import { CollectionNotFoundError, DimensionMismatchError } from "./errors.ts";
import { rrfFuse } from "./fusion.ts";
import { type QueryWord, queryWords, terms, tsQueryOfWords } from "./lexical.ts";
import { escapeLike } from "./uri_prefix.ts";
import { encodeFloat4Array, encodeVectorArray, FLOAT4_ARRAY_OID } from "./pgvector_binary.ts";
import {
  checkDocumentIds,
  type CheckedPoint,
  type CheckedSearchOptions,
  checkHybridOptions,
  checkIds,
  checkLexicalOptions,
  checkLexicalTexts,
  checkPoints,
  checkQueryText,
  checkSearchOptions,
  checkVector,
} from "./vector_input.ts";
import type {
  EnsureCollectionOptions,
  HybridHit,
  HybridSearchOptions,
  LexicalText,
  VectorHit,
  VectorPayload,
  VectorPoint,
  VectorSearchOptions,
  VectorStore,
  VectorStoreReadiness,
} from "./vector_store.ts";
import { errorMessage } from "../errors.ts";

/** Options of {@link PgvectorStore}. */
export interface PgvectorStoreOptions {
  /** Close the database in {@link PgvectorStore.close} (set when the store opened it). @default {false} */
  ownsDb?: boolean;
  /** Points per upsert statement. @default {256} */
  batchSize?: number;
  /** @default {getLogger("vector.pgvector")} */
  logger?: Logger;
  /** Longest wait of one {@link PgvectorStore.ready} probe, in ms. @default {2000} */
  readyTimeoutMs?: number;
  /**
   * Where searches (dense, lexical, hybrid) and the alias lookups before them read: a read
   * replica of `db` (`DATABASE_READ_URL`). Setup, writes, counts and readiness stay on `db`.
   * @default {db}
   */
  readDb?: ReadDb;
  /**
   * `PGVECTOR_INDEXING_THRESHOLD_KB`: a table gets its HNSW index once its vectors take this many
   * KB as float32 (the unit of Qdrant's `indexing_threshold_kb`: 1 KB is one vector of 256
   * dimensions; 10,000 KB, the service's default and Qdrant's full-scan threshold, is 6,667
   * points of 384). Below it, searches scan every point exactly (as Qdrant's plain segments do),
   * and writes and bulk loads build no graph. 0: every table is indexed from its first point.
   * @default {0}
   */
  indexingThresholdKb?: number;
}

/**
 * Points past which a table of `dimension`-wide vectors gets its HNSW index, for a threshold of
 * `kb` KB of float32 vectors (see {@link PgvectorStoreOptions.indexingThresholdKb}).
 */
export function indexedFromPoints(kb: number, dimension: number): number {
  return Math.ceil((kb * 1024) / (4 * dimension));
}

/**
 * Points an upsert adds to a table below the indexing threshold (see `#indexWhenGrown`) before
 * the store counts the table again: an eighth of the threshold's points, at least 64.
 */
function recountStep(indexedFrom: number): number {
  return Math.max(64, Math.ceil(indexedFrom / 8));
}

/** pgvector's limits: the `vector` type and its HNSW index. */
const MAX_DIMENSION = 16000;
const MAX_HNSW_DIMENSION = 2000;
/** Attempts for DDL that may race with another process doing the same. */
const DDL_ATTEMPTS = 5;
/** Attempts for a search whose alias target was dropped under it. */
const SEARCH_ATTEMPTS = 3;

const UNDEFINED_TABLE = "42P01";
const UNDEFINED_COLUMN = "42703";
const RACE_CODES = new Set(["23505", "42P07", "42710", "42701"]);

/**
 * `maintenance_work_mem` of a bulk load's HNSW build (Postgres' default is 64 MB): while the
 * graph fits, pgvector builds it in memory, far faster than on disk.
 */
const HNSW_BUILD_MEMORY = "256MB";

/** The HNSW index (cosine) of table `t`; a bulk load builds it after its points are in. */
function hnswDdl(t: string): string {
  return `create index if not exists ${t}_hnsw on ${t} using hnsw (embedding vector_cosine_ops)`;
}

/** The lexical column and index, for a new table and for one made before them. */
function lexicalDdl(t: string): string[] {
  return [
    `alter table ${t} add column if not exists lexical tsvector not null default ''::tsvector`,
    `create index if not exists ${t}_lex on ${t} using gin (lexical)`,
  ];
}

/**
 * Most chunks holding every query word that a lexical search ranks, and most holding its rarest
 * word when every word is common (or the table has no statistics yet).
 */
export const LEXICAL_CANDIDATES = 100;

/**
 * Chunks a lexical search may rank for its rare words: the rarest words are taken, by the table's
 * statistics (a term not among its most common ones counts as none), while their chunks together
 * stay within this many; all their chunks are ranked, at most {@link LEXICAL_CANDIDATES} more
 * than this should the statistics be wrong (a term outside the most common ones may be in up
 * to the least common one's share: at 50k chunks, about 570; each chunk read and ranked costs
 * about 15-20 us in PGlite, the most of a slow hybrid search).
 */
export const LEXICAL_RARE_BUDGET = 200;

/** Rows with terms written to a table before the store merges its GIN pending list. */
export const GIN_MERGE_ROWS = 200;

/** An upsert analyzes its table once this many rows, plus a fraction of the table, changed. */
export const ANALYZE_MIN_ROWS = 500;
const ANALYZE_FRACTION = 0.2;
/** How long a table's term statistics are used before they are read again, in ms. */
const TERM_STATS_TTL_MS = 30_000;

/** A table's document frequencies of its most common terms, from `pg_stats`. */
interface TermStats {
  readAt: number;
  /** Rows in the table when it was analyzed. */
  rows: number;
  /** Fraction of rows holding each of the most common terms. */
  freq: Map<string, number>;
}

/** How a table stores its terms: a tsvector column, or (first layout) text it is generated from. */
type LexicalLayout = "tsvector" | "terms";

/** The oids of pgvector's `vector` type and of its array type in one database. */
interface VectorTypes {
  oid: number;
  array: number;
}

function table(name: string): string {
  return `vec_${name}`;
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

/** The document and uri filters as SQL conditions, their values appended to `params`. */
function filterClauses(
  o: CheckedSearchOptions,
  params: SqlParam[],
): string[] {
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
  return where;
}

/** A row of a dense or lexical list: the point id as text, its score, its payload or null. */
type ListRow = { id: string; score: number; payload: VectorPayload | null };

function toHit(r: ListRow): VectorHit {
  return { id: r.id, score: Number(r.score), payload: r.payload as VectorPayload };
}

/** Best score first, ties by id (as the SQL `order by score desc, id` puts them). */
function byScoreThenId(a: VectorHit, b: VectorHit): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** HNSW candidates kept per walk for a list `k` deep: twice k, 40 (pgvector's default) to 1,000. */
function efSearch(k: number): string {
  return String(Math.min(1000, Math.max(40, 2 * k)));
}

/**
 * The dense list's statement: the `o.k` points nearest `vector` (id as text, score, payload or
 * null), best first, ties by id; its values appended to `params`. Filtered: an exact scan of the
 * points that pass (`offset 0` keeps the planner from flattening the subquery into an HNSW walk);
 * else an HNSW walk (see {@link efSearch}).
 */
function denseListSql(
  t: string,
  vector: Float32Array,
  o: CheckedSearchOptions,
  params: SqlParam[],
  withPayload: boolean,
): string {
  params.push(new BinaryParam(FLOAT4_ARRAY_OID, encodeFloat4Array(vector)), o.k);
  const v = `$${params.length - 1}::float4[]::vector`, k = `$${params.length}::int`;
  const payload = withPayload ? "payload" : "null::jsonb as payload";
  const where = filterClauses(o, params);
  let threshold = "";
  if (o.scoreThreshold !== undefined) {
    params.push(o.scoreThreshold);
    threshold = `where score >= $${params.length}::float8`;
  }
  return where.length > 0
    ? `select id, score, payload from (
         select id::text as id, ${payload}, 1 - (embedding <=> ${v}) as score
           from ${t} where ${where.join(" and ")} offset 0
       ) s ${threshold}
       order by score desc, id limit ${k}`
    : `select id, score, payload from (
         select id::text as id, ${payload}, 1 - (embedding <=> ${v}) as score
           from ${t} order by embedding <=> ${v} limit ${k}
       ) s ${threshold}
       order by score desc, id`;
}

/** One list of lexical candidates: at most `limit` chunks matching the tsquery `query`. */
interface LexicalList {
  query: string;
  limit: number;
  /** Read by a sequential scan that stops at the limit, else through the GIN index. */
  seq: boolean;
}

/** Where a lexical search reads its candidates (see `PgvectorStore.#lexicalPlan`). */
interface LexicalPlan {
  /** Any query word: the tsquery every candidate is ranked against. */
  some: string;
  /** The lists, read in turn while the chunks found are fewer than k (the first always). */
  lists: LexicalList[];
}

/**
 * The fraction of the table's chunks holding `w`, by the statistics: an identifier as its whole
 * form plus its rarest part; a term not among the most common ones as none.
 */
function wordFraction(w: QueryWord, stats: TermStats): number {
  const f = (term: string) => stats.freq.get(term) ?? 0;
  return f(w.whole) + (w.parts.length > 0 ? Math.min(...w.parts.map(f)) : 0);
}

/**
 * Whether a list of `limit` chunks matching a fraction `fraction` of the table is read faster
 * by a sequential scan that stops at the limit (about limit / fraction rows, each row's
 * tsvector checked: 1.8 us in PGlite) than by the bitmap scan, which reads every posting first
 * (fraction x rows of them, 0.35 us each) and then the limit's rows: when fraction^2 x rows >
 * 5 x limit (at 50k chunks, 100 candidates: a word in one chunk in ten or more; a word in one
 * in six took 3.6 ms scanned against 7.8 through the index, one in forty 9 ms against 2 at
 * 10k). Postgres' own choice misjudges both ways (it prices checking a tsvector as one
 * operator, and guesses for terms outside the statistics), so the store makes it. Never
 * without statistics: an unknown fraction is read through the index.
 */
function seqScanPays(fraction: number, stats: TermStats | undefined, limit: number): boolean {
  return stats !== undefined && fraction * fraction * stats.rows > SEQ_SCAN_FACTOR * limit;
}
const SEQ_SCAN_FACTOR = 5;

/**
 * One lexical candidate list's statement: of at most `limit` chunks matching the tsquery `match`
 * (through the index: no order, so no chunk beyond `limit` is read), the best `o.k` by `ts_rank`
 * against `some` (id as text, score, payload or null), best first, ties by id.
 */
function lexicalListSql(
  t: string,
  some: string,
  match: string,
  limit: number,
  o: CheckedSearchOptions,
  params: SqlParam[],
  withPayload: boolean,
): string {
  params.push(some, match, limit, o.k);
  const n = params.length;
  const filters = filterClauses(o, params).map((c) => ` and ${c}`).join("");
  // The tsqueries are constants (see `PgvectorStore.#tsQueries`): parsed once per statement, not
  // once per row ranked. No order before the inner limit: no chunk beyond it is read.
  const candidates = `select id, ts_rank(lexical, $${n - 3}::tsquery, 1)::float8 as score
      from ${t} where lexical @@ $${n - 2}::tsquery${filters} limit $${n - 1}::int`;
  const best = `select id, score from (${candidates}) c order by score desc, id limit $${n}::int`;
  return withPayload
    ? `select b.id::text as id, b.score, p.payload from (${best}) b join ${t} p on p.id = b.id
        order by b.score desc, b.id`
    : `select id::text as id, score, null::jsonb as payload from (${best}) b order by score desc, id`;
}

async function lexicalList(
  tx: Queryable,
  t: string,
  some: string,
  match: string,
  limit: number,
  o: CheckedSearchOptions,
  withPayload: boolean,
): Promise<VectorHit[]> {
  const params: SqlParam[] = [];
  const rows = await tx.query<ListRow>(
    lexicalListSql(t, some, match, limit, o, params, withPayload),
    params,
  );
  return rows.map(toHit);
}

export class PgvectorStore implements VectorStore {
  readonly kind = "pgvector" as const;
  readonly #db: Db;
  /** Searches read here (a replica, or {@link #db}). */
  readonly #reader: ReadDb;
  /**
   * Searches read an embedded database (PGlite: one thread, statements in turn), so a hybrid
   * search reads both lists in one statement instead of two at once.
   */
  readonly #oneStatement: boolean;
  readonly #ownsDb: boolean;
  readonly #batchSize: number;
  readonly #log: Logger;
  readonly #readyTimeoutMs: number;
  #prepared: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  /** The oids of `vector` and `vector[]` in this database, read once (upserts send binary). */
  #vectorTypes: Promise<VectorTypes> | undefined;
  /** Each table's lexical layout, as last seen (a table dropped and made again: re-read). */
  readonly #layouts = new Map<string, LexicalLayout>();
  /** Each table's term statistics, as last read (undefined: the table has none yet). */
  readonly #termStats = new Map<string, TermStats | undefined>();
  /** Rows this store wrote to each table since it last analyzed it. */
  readonly #written = new Map<string, number>();
  /** Rows with terms this store wrote to each table since it last merged its GIN pending list. */
  readonly #termsWritten = new Map<string, number>();
  /** Tables known to have their HNSW index (built, or seen), so the check runs once each. */
  readonly #hnswBuilt = new Set<string>();
  readonly #indexingThresholdKb: number;
  /**
   * Tables seen without their HNSW index and below the indexing threshold, outside a bulk load:
   * the points counted then, and the points this store upserted since. Upserts recount when
   * these reach the threshold, or every {@link recountStep} points (other processes write too).
   */
  readonly #unindexed = new Map<string, { points: number; added: number }>();

  constructor(db: Db, options: PgvectorStoreOptions = {}) {
    const {
      ownsDb = false,
      batchSize = 256,
      logger = getLogger("vector.pgvector"),
      readyTimeoutMs = 2000,
      readDb,
      indexingThresholdKb = 0,
    } = options;
    if (!Number.isInteger(indexingThresholdKb) || indexingThresholdKb < 0) {
      throw new RangeError(
        "Cannot create the pgvector store: indexingThresholdKb must be a non-negative integer, " +
          `got ${indexingThresholdKb}`,
      );
    }
    this.#indexingThresholdKb = indexingThresholdKb;
    if (!(readyTimeoutMs > 0)) {
      throw new RangeError(
        `Cannot create the pgvector store: readyTimeoutMs must be positive, got ${readyTimeoutMs}`,
      );
    }
    this.#readyTimeoutMs = readyTimeoutMs;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(
        `Cannot create the pgvector store: batchSize must be a positive integer, got ${batchSize}`,
      );
    }
    this.#db = db;
    this.#reader = readDb ?? db;
    this.#oneStatement = this.#reader === db && db.driver === "pglite";
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
  async #resolve(name: string, db: Pick<Db, "query"> = this.#db): Promise<string> {
    const rows = await db.query<{ target: string }>(
      "select target from vector_aliases where alias = $1",
      [name],
    );
    return rows[0]?.target ?? name;
  }

  /** Adds the lexical columns and index to a table made before them (no-op when present). */
  async #ensureLexical(collection: string): Promise<void> {
    this.#layouts.delete(collection);
    const t = table(collection);
    const rows = await this.#db.query(
      `select 1 from pg_attribute
        where attrelid = to_regclass($1) and attname = 'lexical' and not attisdropped`,
      [t],
    );
    if (rows.length > 0) return;
    this.#log.info("adding lexical retrieval to a vector collection", { collection });
    await this.#raceSafe(() => this.#db.exec(lexicalDdl(t).join(";\n")));
  }

  async #dimension(collection: string): Promise<number | undefined> {
    const rows = await this.#db.query<{ dim: number }>(
      `select a.atttypmod as dim from pg_attribute a
        where a.attrelid = to_regclass($1) and a.attname = 'embedding' and not a.attisdropped`,
      [table(collection)],
    );
    return rows[0]?.dim;
  }

  async ensureCollection(
    name: string,
    dimension: number,
    options: EnsureCollectionOptions = {},
  ): Promise<void> {
    const { bulkLoad = false } = options;
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
      ...lexicalDdl(t),
    ];
    // A new table is indexed at once only without a threshold; else once it has grown past it.
    const indexNow = dimension <= MAX_HNSW_DIMENSION && !bulkLoad &&
      this.#indexingThresholdKb === 0;
    if (indexNow) ddl.push(hnswDdl(t));
    // A bulk load's upserts build nothing (finishBulkLoad decides).
    if (bulkLoad) this.#unindexed.delete(target);
    for (let attempt = 1;; attempt++) {
      const existing = await this.#dimension(target);
      if (existing !== undefined) {
        if (existing !== dimension) {
          throw new DimensionMismatchError("ensure collection", target, existing, dimension);
        }
        await this.#ensureLexical(target);
        if (!bulkLoad) await this.#indexIfLarge(target, existing);
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
        if (indexNow) this.#hnswBuilt.add(target);
        else if (!bulkLoad && dimension <= MAX_HNSW_DIMENSION) {
          this.#unindexed.set(target, { points: 0, added: 0 });
        }
        return;
      } catch (err) {
        const code = dbErrorInfo(err)?.code;
        // Another process created it concurrently: loop and check what it created.
        if (!code || !RACE_CODES.has(code) || attempt >= DDL_ATTEMPTS) throw err;
      }
    }
  }

  async finishBulkLoad(name: string): Promise<void> {
    assertCollectionName(name);
    await this.#prepare();
    const target = await this.#resolve(name);
    const dimension = await this.#dimension(target);
    if (dimension === undefined) throw new CollectionNotFoundError("finish the bulk load", name);
    await this.#indexIfLarge(target, dimension);
    // The load's last terms (fewer than GIN_MERGE_ROWS) are merged too: searches come next.
    if (this.#termsWritten.has(target)) await this.#mergeTerms(target);
  }

  /**
   * Builds the HNSW index of a table that lacks it (a bulk load deferred it, or the table was
   * below the indexing threshold) once the table holds the threshold's points, once per table
   * and process; below the threshold, notes the count for {@link #indexWhenGrown}. A table past
   * pgvector's indexed dimensions has none to build.
   */
  async #indexIfLarge(collection: string, dimension: number): Promise<void> {
    if (dimension > MAX_HNSW_DIMENSION || this.#hnswBuilt.has(collection)) return;
    const t = table(collection);
    const [row] = await this.#db.query<{ present: boolean; points: number | null }>(
      `select to_regclass($1) is not null as present,
              case when $2::int > 0 then (select count(*)::int from ${t}) end as points`,
      [`${t}_hnsw`, this.#indexingThresholdKb],
    );
    const from = indexedFromPoints(this.#indexingThresholdKb, dimension);
    if (!row?.present) {
      const points = row?.points ?? 0;
      if (points < from) {
        this.#unindexed.set(collection, { points, added: 0 });
        return;
      }
      const started = performance.now();
      // Built in memory while the graph fits (else pgvector goes on, slower, on disk).
      await this.#raceSafe(() =>
        this.#db.transaction(async (tx) => {
          await tx.query("select set_config('maintenance_work_mem', $1, true)", [
            HNSW_BUILD_MEMORY,
          ]);
          await tx.query(hnswDdl(t));
        })
      );
      this.#log.info("built the HNSW index of a vector collection", {
        collection,
        points: row?.points ?? undefined,
        ms: Math.round(performance.now() - started),
      });
    }
    this.#unindexed.delete(collection);
    this.#hnswBuilt.add(collection);
  }

  /**
   * After an upsert of `added` points outside a bulk load to a table below the indexing
   * threshold: recounts it once the count noted plus the points added reach the threshold, or
   * every {@link recountStep} points (what other processes wrote is not in the sum), and builds
   * its index when the count says so. A failure is logged: the write it follows succeeded, and
   * the next upsert or `ensureCollection` tries again.
   */
  async #indexWhenGrown(collection: string, dimension: number, added: number): Promise<void> {
    const seen = this.#unindexed.get(collection);
    if (!seen) return;
    seen.added += added;
    const from = indexedFromPoints(this.#indexingThresholdKb, dimension);
    if (seen.points + seen.added < from && seen.added < recountStep(from)) return;
    try {
      await this.#indexIfLarge(collection, dimension);
    } catch (err) {
      this.#log.warn("could not build the HNSW index of a vector collection after a write", {
        collection,
        error: errorMessage(err),
      });
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
    await this.#analyzeIfChanged(target, checked.length);
    await this.#mergeTermsIfWritten(target, checked.filter((p) => p.text !== "").length);
    await this.#indexWhenGrown(target, checked[0]!.vector.length, checked.length);
  }

  /**
   * Merges the GIN index's pending list into its tree once this store wrote terms for
   * {@link GIN_MERGE_ROWS} rows since it last did (`gin_clean_pending_list`). GIN takes new
   * entries into an unsorted pending list (cheap writes) which every search reads whole, until a
   * vacuum or the list's size limit (4 MB by default) merges it; PGlite runs no vacuum, so after a
   * load the list held up to 4 MB: at 10k chunks 212 pages, which made a lexical list of 4 chunks
   * take 9.7 ms instead of 0.9 ms. A failure is logged: the write it follows succeeded.
   */
  async #mergeTermsIfWritten(collection: string, rows: number): Promise<void> {
    if (rows === 0) return;
    const written = (this.#termsWritten.get(collection) ?? 0) + rows;
    this.#termsWritten.set(collection, written);
    if (written >= GIN_MERGE_ROWS) await this.#mergeTerms(collection);
  }

  async #mergeTerms(collection: string): Promise<void> {
    try {
      // (A table made before lexical retrieval has no such index: null, nothing to merge.)
      await this.#db.query("select gin_clean_pending_list(to_regclass($1))", [
        `${table(collection)}_lex`,
      ]);
      this.#termsWritten.delete(collection);
    } catch (err) {
      this.#log.warn("could not merge the pending lexical index entries of a vector collection", {
        collection,
        error: errorMessage(err),
      });
    }
  }

  /**
   * Analyzes the table once this store wrote enough rows to it since it last analyzed it (as
   * autovacuum's autoanalyze would; PGlite runs no autovacuum), so the lexical search's term
   * statistics (`pg_stats.most_common_elems` of the tsvector) follow the table. The rows are
   * counted here: the server's own counters (`pg_stat_user_tables`) reach it up to a second late.
   * A failure is logged: the write it follows succeeded.
   */
  async #analyzeIfChanged(collection: string, rows: number): Promise<void> {
    const t = table(collection);
    const written = (this.#written.get(collection) ?? 0) + rows;
    this.#written.set(collection, written);
    if (written < ANALYZE_MIN_ROWS) return;
    try {
      const [row] = await this.#db.query<{ rows: number }>(
        "select greatest(reltuples, 0)::float8 as rows from pg_class where oid = to_regclass($1)",
        [t],
      );
      if (!row || written < ANALYZE_MIN_ROWS + ANALYZE_FRACTION * Number(row.rows)) return;
      await this.#db.exec(`analyze ${t}`);
      this.#written.delete(collection);
      this.#termStats.delete(collection);
    } catch (err) {
      this.#log.warn("could not analyze a vector collection after a write", {
        collection,
        error: errorMessage(err),
      });
    }
  }

  /** The table's term statistics (cached for {@link TERM_STATS_TTL_MS}); undefined when none. */
  async #stats(collection: string): Promise<TermStats | undefined> {
    const cached = this.#termStats.get(collection);
    if (cached && performance.now() - cached.readAt < TERM_STATS_TTL_MS) return cached;
    const [row] = await this.#reader.query<
      { rows: number; elems: string[] | null; freqs: number[] | null }
    >(
      `select greatest(c.reltuples, 0)::float8 as rows,
              s.most_common_elems::text::text[] as elems,
              s.most_common_elem_freqs::float8[] as freqs
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         left join pg_stats s
           on s.schemaname = n.nspname and s.tablename = c.relname and s.attname = 'lexical'
        where c.oid = to_regclass($1)`,
      [table(collection)],
    );
    if (!row?.elems || !row.freqs) {
      this.#termStats.delete(collection);
      return undefined;
    }
    const freq = new Map<string, number>();
    row.elems.forEach((e, i) => freq.set(e, Number(row.freqs![i])));
    const stats = { readAt: performance.now(), rows: Number(row.rows), freq };
    this.#termStats.set(collection, stats);
    return stats;
  }

  /** The word the statistics put in the fewest chunks. */
  static #rarest(words: QueryWord[], stats: TermStats): QueryWord {
    return words.reduce((best, w) => wordFraction(w, stats) < wordFraction(best, stats) ? w : best);
  }

  /**
   * The rarest query words whose chunks, by the statistics, add up to at most
   * {@link LEXICAL_RARE_BUDGET} (see {@link wordFraction}). Empty without statistics.
   */
  static #rareWords(words: QueryWord[], stats: TermStats | undefined): QueryWord[] {
    if (!stats) return [];
    const rare: QueryWord[] = [];
    let total = 0;
    const rows = words.map((w) => [w, stats.rows * wordFraction(w, stats)] as const);
    for (const [w, n] of rows.sort((a, b) => a[1] - b[1])) {
      if (total + n > LEXICAL_RARE_BUDGET) break;
      total += n;
      rare.push(w);
    }
    return rare;
  }

  /** The table's lexical layout (read once, then cached). */
  async #layout(collection: string): Promise<LexicalLayout> {
    const cached = this.#layouts.get(collection);
    if (cached) return cached;
    const rows = await this.#db.query(
      `select 1 from pg_attribute
        where attrelid = to_regclass($1) and attname = 'lexical_terms' and not attisdropped`,
      [table(collection)],
    );
    const layout: LexicalLayout = rows.length > 0 ? "terms" : "tsvector";
    this.#layouts.set(collection, layout);
    return layout;
  }

  /** The column a write sets, and the expression that computes it from the terms `p.terms`. */
  static #lexicalTarget(layout: LexicalLayout): { column: string; value: string } {
    return layout === "terms"
      ? { column: "lexical_terms", value: "p.terms" }
      : { column: "lexical", value: "to_tsvector('simple'::regconfig, p.terms)" };
  }

  /** The oids of `vector` and `vector[]`, read once per store (and again when they changed). */
  #vectorOids(): Promise<VectorTypes> {
    this.#vectorTypes ??= this.#db.query<VectorTypes>(
      "select t.oid::int8 as oid, t.typarray::int8 as array from pg_type t where t.oid = 'vector'::regtype",
    ).then(([row]) => row!).catch((err) => {
      this.#vectorTypes = undefined;
      throw err;
    });
    return this.#vectorTypes;
  }

  /**
   * After a failed write: whether the `vector` type's oids the write used are no longer the
   * database's (the extension was dropped and made again), read afresh.
   */
  async #vectorTypesChanged(): Promise<boolean> {
    const used = await this.#vectorTypes?.catch(() => undefined);
    this.#vectorTypes = undefined;
    if (!used) return false;
    const now = await this.#vectorOids().catch(() => undefined);
    return now !== undefined && (now.oid !== used.oid || now.array !== used.array);
  }

  async #upsertBatch(
    name: string,
    target: string,
    batch: CheckedPoint[],
    upgraded = false,
    retyped = false,
  ): Promise<void> {
    const t = table(target);
    try {
      const lex = PgvectorStore.#lexicalTarget(await this.#layout(target));
      const types = await this.#vectorOids();
      await this.#db.query(
        `insert into ${t} (id, document_id, uri, chunk_index, payload, embedding, ${lex.column})
         select p.id, p.document_id, p.uri, p.chunk_index, p.payload::jsonb, p.embedding,
                ${lex.value}
           from unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::vector[],
                       $7::text[])
             as p(id, document_id, uri, chunk_index, payload, embedding, terms)
         on conflict (id) do update set
           document_id = excluded.document_id,
           uri = excluded.uri,
           chunk_index = excluded.chunk_index,
           payload = excluded.payload,
           embedding = excluded.embedding,
           ${lex.column} = excluded.${lex.column}`,
        [
          batch.map((p) => p.id),
          batch.map((p) => p.payload.document_id),
          batch.map((p) => p.payload.uri),
          batch.map((p) => p.payload.chunk_index),
          batch.map((p) => JSON.stringify(p.payload)),
          new BinaryParam(
            types.array,
            encodeVectorArray(batch.map((p) => p.vector), types.oid),
          ),
          batch.map((p) => terms(p.text).join(" ")),
        ],
      );
    } catch (err) {
      if (dbErrorInfo(err)?.code === UNDEFINED_COLUMN && !upgraded) {
        // A table made before lexical retrieval (or made again since its layout was read): add
        // its column if missing, read its layout again, then write.
        await this.#ensureLexical(target);
        return await this.#upsertBatch(name, target, batch, true, retyped);
      }
      if (!retyped && (await this.#vectorTypesChanged())) {
        return await this.#upsertBatch(name, target, batch, upgraded, true);
      }
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

  async setLexical(name: string, points: LexicalText[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkLexicalTexts(`set the lexical index of ${name}`, points);
    if (checked.length === 0) return;
    await this.#prepare();
    const target = await this.#resolve(name);
    if ((await this.#dimension(target)) === undefined) {
      throw new CollectionNotFoundError("set the lexical index of", name);
    }
    await this.#ensureLexical(target);
    for (let i = 0; i < checked.length; i += this.#batchSize) {
      const batch = checked.slice(i, i + this.#batchSize);
      try {
        const lex = PgvectorStore.#lexicalTarget(await this.#layout(target));
        await this.#db.query(
          `update ${table(target)} t set ${lex.column} = ${lex.value}
             from unnest($1::uuid[], $2::text[]) as p(id, terms)
            where t.id = p.id`,
          [batch.map((p) => p.id), batch.map((p) => terms(p.text).join(" "))],
        );
      } catch (err) {
        if (dbErrorInfo(err)?.code === UNDEFINED_TABLE) {
          throw new CollectionNotFoundError("set the lexical index of", name);
        }
        throw err;
      }
    }
    await this.#analyzeIfChanged(target, checked.length);
    await this.#mergeTermsIfWritten(target, checked.length);
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
      const target = await this.#resolve(name, this.#reader);
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

  /** Runs `fn` on the physical collection `name` refers to, retrying a dropped alias target. */
  async #read<T>(name: string, empty: T, fn: (target: string) => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const target = await this.#resolve(name, this.#reader);
      try {
        return await fn(target);
      } catch (err) {
        const code = dbErrorInfo(err)?.code;
        if (code === UNDEFINED_TABLE) {
          if (target !== name && attempt < SEARCH_ATTEMPTS) continue;
          return empty;
        }
        // A table made before lexical retrieval has no terms to match.
        if (code === UNDEFINED_COLUMN) return empty;
        throw err;
      }
    }
  }

  async lexicalSearch(
    name: string,
    query: string,
    options: VectorSearchOptions,
  ): Promise<VectorHit[]> {
    assertCollectionName(name);
    const o = checkLexicalOptions(name, query, options);
    if (o.documentIds?.length === 0) return [];
    const words = queryWords(query);
    if (words.length === 0) return [];
    await this.#prepare();
    return await this.#read(name, [], (target) => this.#lexicalTable(target, words, o));
  }

  /**
   * Where a lexical search for the best `k` reads its candidates. With rare words (by the
   * table's statistics), first every chunk holding one of them: the chunks holding every word
   * are among those. Without, first the chunks holding every word (at most
   * {@link LEXICAL_CANDIDATES}), then as many holding the rarest word. Last, k holding any word.
   * A list after the first is read only while fewer than k chunks were found, and not at all
   * when an earlier list read the same words as far. So a common word's thousands of chunks are
   * never all read, and the scan of each list is chosen by {@link seqScanPays}.
   */
  async #lexicalPlan(target: string, words: QueryWord[], k: number): Promise<LexicalPlan> {
    const stats = await this.#stats(target);
    const fraction = (w: QueryWord) => stats ? Math.min(1, wordFraction(w, stats)) : 0;
    const lists: (LexicalList & { words: QueryWord[]; op: "|" | "&" })[] = [];
    const add = (ws: QueryWord[], op: "|" | "&", limit: number, f: number) =>
      lists.push({ words: ws, op, limit, query: "", seq: seqScanPays(f, stats, limit) });
    const rare = PgvectorStore.#rareWords(words, stats);
    if (rare.length > 0) {
      add(rare, "|", LEXICAL_RARE_BUDGET + LEXICAL_CANDIDATES, 0);
    } else {
      add(words, "&", LEXICAL_CANDIDATES, words.reduce((p, w) => p * fraction(w), 1));
      if (stats) {
        const rarest = PgvectorStore.#rarest(words, stats);
        add([rarest], "|", LEXICAL_CANDIDATES, fraction(rarest));
      }
    }
    const fill = Math.min(k, LEXICAL_CANDIDATES);
    add(words, "|", fill, 1 - words.reduce((p, w) => p * (1 - fraction(w)), 1));
    // The same words (one word: either operator) already read as far add nothing.
    const key = (l: { words: QueryWord[]; op: string }) =>
      (l.words.length === 1 ? "|" : l.op) + l.words.map((w) => w.whole).sort().join(" ");
    const kept = lists.filter((l, i) =>
      !lists.slice(0, i).some((e) => key(e) === key(l) && e.limit >= l.limit)
    );
    const [some, ...queries] = await this.#tsQueries([
      tsQueryOfWords(words)!,
      ...kept.map((l) => tsQueryOfWords(l.words, l.op)!),
    ]);
    return {
      some: some!,
      lists: kept.map((l, i) => ({ query: queries[i]!, limit: l.limit, seq: l.seq })),
    };
  }

  /**
   * Each of `queries` (`to_tsquery` syntax) as the tsquery `to_tsquery('simple', query)` makes,
   * in the text form a `::tsquery` cast reads back, so statements take it as a constant. Terms of
   * ASCII letters and digits are one lexeme each, unchanged, in both: no round trip when every
   * query has only those. Others go through Postgres' parser, as the chunk text did (it drops or
   * splits some characters: `x²` is `x`), all in one statement.
   */
  async #tsQueries(queries: string[]): Promise<string[]> {
    if (queries.every((q) => /^[a-z0-9' |&()<>-]*$/.test(q))) return queries;
    const rows = await this.#reader.query<{ q: string }>(
      `select to_tsquery('simple', q)::text as q from unnest($1::text[]) with ordinality as u(q, i)
        order by i`,
      [queries],
    );
    return rows.map((r) => r.q);
  }

  /**
   * The best `o.k` chunks by lexical rank, best first (ties by id), with payloads unless
   * `withPayload` is false: the plan's lists read in turn while fewer than k chunks were found.
   * `given`: the plan and the first list's hits when the caller already read them (a hybrid
   * search on PGlite reads them in its own statement), and the transaction to read the rest in.
   */
  async #lexicalTable(
    target: string,
    words: QueryWord[],
    o: CheckedSearchOptions,
    withPayload = true,
    given?: { plan: LexicalPlan; firsts: VectorHit[]; tx: Queryable },
  ): Promise<VectorHit[]> {
    const t = table(target);
    const plan = given?.plan ?? await this.#lexicalPlan(target, words, o.k);
    const read = async (db: Queryable, found: VectorHit[]): Promise<VectorHit[]> => {
      // The scan setting in force: the first list's when the caller read it, else the default.
      let seq = given ? plan.lists[0]!.seq : true;
      const byId = new Map(found.map((h) => [h.id, h]));
      for (let i = given ? 1 : 0; i < plan.lists.length; i++) {
        if (i > 0 && byId.size >= o.k) break;
        const list = plan.lists[i]!;
        if (list.seq !== seq) {
          await db.query("select set_config('enable_seqscan', $1, true)", [
            list.seq ? "on" : "off",
          ]);
          seq = list.seq;
        }
        const hits = await lexicalList(db, t, plan.some, list.query, list.limit, o, withPayload);
        for (const h of hits) if (!byId.has(h.id)) byId.set(h.id, h);
      }
      // The best k of the lists, by score then id (each list is its own best k, so the union's
      // best k is among them).
      return [...byId.values()].sort(byScoreThenId).slice(0, o.k);
    };
    if (given) return await read(given.tx, given.firsts);
    // A list read through the index needs its setting in a transaction; else none.
    if (plan.lists.every((l) => l.seq)) return await read(this.#reader, []);
    return await this.#reader.transaction((tx) => read(tx, []));
  }

  async hybridSearch(
    name: string,
    vector: Float32Array | number[],
    query: string,
    options: HybridSearchOptions,
  ): Promise<HybridHit[]> {
    assertCollectionName(name);
    const dense = checkVector(`search ${name}`, vector);
    checkQueryText(`search ${name}`, query);
    const o = checkHybridOptions(name, options);
    if (o.documentIds?.length === 0) return [];
    const words = queryWords(query);
    const deep = checkSearchOptions(name, { ...o, k: o.depth });
    const lexicalOptions = checkSearchOptions(name, {
      k: o.depth,
      documentIds: o.documentIds,
      uriPrefix: o.uriPrefix,
    });
    await this.#prepare();
    try {
      return await this.#read(name, [], async (target) => {
        const [denseHits, lexicalHits] = this.#oneStatement
          ? await this.#hybridLists(target, dense, words, deep, lexicalOptions, o.k)
          // On a server, both lists at once on two connections, ids and scores only: the
          // payloads of the k fused hits are read after the fusion.
          : await Promise.all([
            this.#searchTable(target, dense, deep, false),
            words.length === 0
              ? Promise.resolve([])
              : this.#lexicalTable(target, words, lexicalOptions, false).catch((err) => {
                // A table made before lexical retrieval: its dense list alone.
                if (dbErrorInfo(err)?.code === UNDEFINED_COLUMN) return [];
                throw err;
              }),
          ]);
        const key = (h: VectorHit) => h.id;
        const fused = rrfFuse([{ items: denseHits, key }, { items: lexicalHits, key }], o.rrfK)
          .slice(0, o.k);
        const payloads = new Map<string, VectorPayload>();
        for (const h of [...denseHits, ...lexicalHits]) {
          if (h.payload) payloads.set(h.id, h.payload);
        }
        const missing = fused.map((f) => f.key).filter((id) => !payloads.has(id));
        for (const [id, p] of await this.#payloads(target, missing)) payloads.set(id, p);
        // A point deleted since the lists were read has no payload: it is left out.
        return fused.filter((f) => payloads.has(f.key)).map((f) => {
          const [d, l] = f.from;
          return {
            id: f.key,
            score: f.score,
            payload: payloads.get(f.key)!,
            dense: d?.score ?? null,
            lexical: l?.score ?? null,
          };
        });
      });
    } catch (err) {
      const dims = dimensionsFromError(err);
      if (dims) {
        const expected = dims.expected === dense.length ? dims.actual : dims.expected;
        throw new DimensionMismatchError("search", name, expected, dense.length);
      }
      throw err;
    }
  }

  /**
   * A hybrid search's two lists on an embedded database, which runs statements one at a time on
   * one thread: both lists and their payloads in one statement (each statement costs PGlite a
   * round trip of 0.3-0.6 ms; the separate lists, their transactions and the payload read took
   * nine), then the lexical lists after the first when it holds fewer than the depth.
   */
  async #hybridLists(
    target: string,
    vector: Float32Array,
    words: QueryWord[],
    deep: CheckedSearchOptions,
    lexicalOptions: CheckedSearchOptions,
    k: number,
  ): Promise<[VectorHit[], VectorHit[]]> {
    const t = table(target);
    const plan = words.length > 0
      ? await this.#lexicalPlan(target, words, lexicalOptions.k)
      : undefined;
    const run = (tx: Queryable) => {
      const params: SqlParam[] = [];
      const d = denseListSql(t, vector, deep, params, false);
      const l = plan
        ? lexicalListSql(
          t,
          plan.some,
          plan.lists[0]!.query,
          plan.lists[0]!.limit,
          lexicalOptions,
          params,
          false,
        )
        : undefined;
      return tx.query<ListRow & { list: string }>(
        `with d as materialized (${d}),
              l as materialized (${l ?? "select null::text as id, 0::float8 as score limit 0"})
         select x.list, x.id, x.score, p.payload
           from (select 'd' as list, id, score from d
                 union all select 'l' as list, id, score from l) x
           join ${t} p on p.id = x.id::uuid
          order by x.list, x.score desc, x.id`,
        params,
      );
    };
    try {
      return await this.#reader.transaction(async (tx) => {
        // The dense list walks the HNSW graph (see #searchTable for both settings) as wide as a
        // dense search for k would (its ranks past k only add to fused scores; the walk's width
        // is its cost: 30 deep at 60 wide took 1.2x the time of 40 wide); the lexical list's scan
        // as in #lexicalTable.
        await tx.query(
          `select set_config('hnsw.ef_search', $1, true),
                set_config('hnsw.iterative_scan', 'relaxed_order', true),
                set_config('enable_seqscan', $2, true)`,
          [efSearch(k), plan && !plan.lists[0]!.seq ? "off" : "on"],
        );
        const rows = await run(tx);
        const hits = (list: string) => rows.filter((r) => r.list === list).map(toHit);
        const firsts = hits("l");
        return [
          hits("d"),
          plan
            ? await this.#lexicalTable(target, words, lexicalOptions, true, { plan, firsts, tx })
            : [],
        ];
      });
    } catch (err) {
      // A table made before lexical retrieval: its dense list alone (read after the transaction
      // ended: on PGlite a read beside it would wait for it).
      if (dbErrorInfo(err)?.code !== UNDEFINED_COLUMN || !plan) throw err;
      return [await this.#searchTable(target, vector, deep, true), []];
    }
  }

  /** The payloads of the points `ids` that exist, by id. */
  async #payloads(target: string, ids: string[]): Promise<Map<string, VectorPayload>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#reader.query<{ id: string; payload: VectorPayload }>(
      `select id::text as id, payload from ${table(target)} where id = any($1::uuid[])`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r.payload]));
  }

  async #searchTable(
    target: string,
    query: Float32Array,
    o: CheckedSearchOptions,
    withPayload = true,
  ): Promise<VectorHit[]> {
    const t = table(target);
    const params: SqlParam[] = [];
    const sql = denseListSql(t, query, o, params, withPayload);
    let rows: ListRow[];
    if (o.documentIds || o.uriPrefix !== undefined) {
      rows = await this.#reader.query<ListRow>(sql, params);
    } else {
      rows = await this.#reader.transaction(async (tx) => {
        // Deleted points stay in the HNSW graph until a vacuum: a plain index scan returns the
        // ef_search nearest tuples and drops the dead ones, so after a large delete (a cancelled
        // operation's points) it can return nothing while live rows match. An iterative scan
        // (pgvector 0.8) goes on until it has `limit` live rows. (One statement sets both.)
        await tx.query(
          `select set_config('hnsw.ef_search', $1, true),
                  set_config('hnsw.iterative_scan', 'relaxed_order', true)`,
          [efSearch(o.k)],
        );
        return await tx.query<ListRow>(sql, params);
      });
    }
    return rows.map(toHit);
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
    this.#termStats.delete(target);
    this.#hnswBuilt.delete(target);
    this.#unindexed.delete(target);
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

  /**
   * Probes the database on every call (the one-time setup says nothing about now): the `vector`
   * type must parse and the alias table answer, within `readyTimeoutMs`.
   */
  async ready(): Promise<VectorStoreReadiness> {
    try {
      await probeWithin(async () => {
        await this.#prepare();
        await this.#db.query(
          "select '[1]'::vector::text as v, (select count(*) from vector_aliases) as n",
        );
      }, this.#readyTimeoutMs);
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
