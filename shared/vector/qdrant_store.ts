/**
 * The `qdrant` store, on `@qdrant/js-client-rest`: one Qdrant collection per vector collection
 * (cosine distance, one unnamed dense vector), keyword payload indexes on `document_id` and on
 * `_uri_prefixes` (the uri's ancestors, for the prefix filter; see `uri_prefix.ts`), writes with
 * `wait=true` so they are visible when the promise resolves, upserts in batches, and retries of
 * transient failures (network errors, timeouts, 429 and 5xx) with backoff. Aliases are Qdrant's
 * own, so a switch is atomic for searches on the server.
 *
 * Lexical retrieval: each collection also has a sparse vector `bm25` (`modifier: "idf"`). A
 * point's sparse vector holds the BM25 term-frequency weight of each term of its text (the
 * project's tokenizer, `lexical.ts`; terms hashed to u32 indices), and Qdrant multiplies by each
 * term's inverse document frequency at query time, which makes the score BM25. Hybrid searches
 * use the Query API: a dense and a sparse prefetch (each `depth` deep) fused by RRF on the server,
 * in one batch with the two lists themselves, so each hit also carries its dense and lexical
 * scores. Collections made before lexical retrieval have no sparse vector: their points are
 * written and found by vector only until `setLexical` (the lexical backfill) creates the sparse
 * vector on the existing collection (Qdrant 1.18+, `PUT /collections/{name}/vectors/{vector}`)
 * and writes each point's sparse vector with the update vectors API
 * (`PUT /collections/{name}/points/vectors`), leaving the dense vectors untouched.
 *
 * A bulk load (`ensureCollection(..., {bulkLoad: true})`) creates the collection with
 * `hnsw_config.m` 0, which defers the HNSW graph (Qdrant's recommendation for bulk uploads);
 * `finishBulkLoad` sets `m` back to {@link HNSW_M} (`PATCH /collections/{name}`) and Qdrant's
 * optimizer builds the graph over every point.
 */
import {
  QdrantClient,
  QdrantClientResourceExhaustedError,
  QdrantClientTimeoutError,
  type Schemas,
} from "@qdrant/js-client-rest";
import { getLogger, type Logger } from "../log/logger.ts";
import { assertCollectionName } from "./collection_name.ts";
import { probeWithin } from "./probe_within.ts";
import { CollectionNotFoundError, DimensionMismatchError } from "./errors.ts";
import { documentSparseVector, querySparseVector } from "./lexical.ts";
import { retry, type RetryOptions } from "./retry.ts";
import { uriAncestors } from "./uri_prefix.ts";
import {
  checkDocumentIds,
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

/** Options of {@link QdrantStore}. */
export interface QdrantStoreOptions {
  /** Qdrant's REST URL, e.g. `http://127.0.0.1:6333`. */
  url: string;
  /** Sent as the `api-key` header. @default {undefined} */
  apiKey?: string;
  /** Points per upsert request. @default {256} */
  batchSize?: number;
  /** Limit of one HTTP request. @default {30000} */
  timeoutMs?: number;
  /**
   * Backoff for transient failures.
   * @default {{ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 }}
   */
  retry?: Pick<RetryOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs">;
  /** @default {getLogger("vector.qdrant")} */
  logger?: Logger;
  /** Longest wait of one {@link QdrantStore.ready} probe, in ms. @default {2000} */
  readyTimeoutMs?: number;
  /** `QDRANT_SHARDS`: `shard_number` of the collections it creates. @default {1} */
  shards?: number;
  /** `QDRANT_REPLICATION`: `replication_factor` of the collections it creates. @default {1} */
  replication?: number;
}

/** The payload field holding a uri's ancestors, matched exactly by the prefix filter. */
const URI_PREFIXES = "_uri_prefixes";
const INDEXED_FIELDS = ["document_id", URI_PREFIXES] as const;
const MAX_DIMENSION = 65536;
/** Edges per node of the HNSW graph: Qdrant's default, set back after a bulk load. */
export const HNSW_M = 16;
/** The sparse vector holding BM25 term weights. */
export const SPARSE_VECTOR = "bm25";
const ENSURE_ATTEMPTS = 5;

/** HTTP status of an error from the client's fetcher, if it is one. */
function httpStatus(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { status?: unknown; data?: unknown };
  return typeof e.status === "number" && "data" in e ? e.status : undefined;
}

/** Qdrant's own error text (`{status: {error}}`), else the error's message. */
function qdrantMessage(err: unknown): string {
  const data = (err as { data?: { status?: { error?: unknown } } } | null)?.data;
  const text = data?.status?.error;
  if (typeof text === "string") return text;
  return errorMessage(err);
}

function transient(err: unknown): boolean | number {
  if (err instanceof QdrantClientResourceExhaustedError) return err.retry_after * 1000;
  if (err instanceof QdrantClientTimeoutError) return true;
  const status = httpStatus(err);
  if (status !== undefined) return status === 429 || status >= 500;
  // fetch() rejects with a TypeError when the connection fails.
  return err instanceof TypeError;
}

function dimensionsFromError(err: unknown): { expected: number; actual: number } | undefined {
  if (httpStatus(err) !== 400) return undefined;
  const m = /expected dim: (\d+), got (\d+)/.exec(qdrantMessage(err));
  return m ? { expected: Number(m[1]), actual: Number(m[2]) } : undefined;
}

function describe(action: string, err: unknown): Error {
  const status = httpStatus(err);
  return new Error(
    `Cannot ${action}: Qdrant answered ${status ?? "nothing"}: ${qdrantMessage(err)}`,
    { cause: err },
  );
}

/** Qdrant's answer when a request names a vector the collection lacks. */
function missingVectorName(err: unknown): boolean {
  return httpStatus(err) === 400 && /Not existing vector name/i.test(qdrantMessage(err));
}

function filterFor(o: CheckedSearchOptions): Schemas["Filter"] | undefined {
  const must: Schemas["Condition"][] = [];
  if (o.documentIds) must.push({ key: "document_id", match: { any: o.documentIds } });
  if (o.uriPrefix !== undefined) must.push({ key: URI_PREFIXES, match: { value: o.uriPrefix } });
  return must.length > 0 ? { must } : undefined;
}

function stripInternal(payload: unknown): VectorPayload {
  const p = { ...(payload as Record<string, unknown>) };
  delete p[URI_PREFIXES];
  return p as VectorPayload;
}

export class QdrantStore implements VectorStore {
  readonly kind = "qdrant" as const;
  readonly #client: QdrantClient;
  readonly #url: string;
  readonly #batchSize: number;
  readonly #retry: Pick<RetryOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs">;
  readonly #log: Logger;
  readonly #readyTimeoutMs: number;
  readonly #distribution: Pick<Schemas["CreateCollection"], "shard_number" | "replication_factor">;

  constructor(options: QdrantStoreOptions) {
    const {
      url,
      apiKey,
      batchSize = 256,
      timeoutMs = 30_000,
      retry = {},
      logger = getLogger("vector.qdrant"),
      readyTimeoutMs = 2000,
      shards = 1,
      replication = 1,
    } = options;
    for (const [k, v] of Object.entries({ shards, replication })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create the Qdrant store: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    this.#distribution = { shard_number: shards, replication_factor: replication };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`Cannot create the Qdrant store: url must be a URL, got ${url}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(`Cannot create the Qdrant store: url must be http(s), got ${url}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(
        `Cannot create the Qdrant store: batchSize must be a positive integer, got ${batchSize}`,
      );
    }
    if (!(timeoutMs > 0)) {
      throw new RangeError(
        `Cannot create the Qdrant store: timeoutMs must be positive, got ${timeoutMs}`,
      );
    }
    if (!(readyTimeoutMs > 0)) {
      throw new RangeError(
        `Cannot create the Qdrant store: readyTimeoutMs must be positive, got ${readyTimeoutMs}`,
      );
    }
    this.#readyTimeoutMs = readyTimeoutMs;
    this.#url = url;
    this.#batchSize = batchSize;
    this.#retry = retry;
    this.#log = logger;
    // The client checks the server version once (a warning when their minor versions are more
    // than one apart): compose pins the server to the client's version.
    this.#client = new QdrantClient({ url, apiKey, timeout: timeoutMs, checkCompatibility: true });
  }

  /** One Qdrant call with retries of transient failures. */
  #call<T>(what: string, fn: (client: QdrantClient) => Promise<T>): Promise<T> {
    return retry(() => fn(this.#client), {
      ...this.#retry,
      retryable: transient,
      onRetry: (err, attempt, delayMs) =>
        this.#log.warn("Qdrant call failed, retrying", {
          call: what,
          attempt,
          delay_ms: delayMs,
          status: httpStatus(err),
          error: qdrantMessage(err),
        }),
    });
  }

  async #info(name: string): Promise<Schemas["CollectionInfo"] | undefined> {
    try {
      return await this.#call("get collection", (c) => c.getCollection(name));
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw describe(`read vector collection ${name}`, err);
    }
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
    for (let attempt = 1;; attempt++) {
      const info = await this.#info(name);
      if (info) {
        const vectors = info.config.params.vectors as Partial<Schemas["VectorParams"]> | undefined;
        if (typeof vectors?.size !== "number") {
          throw new Error(
            `Cannot use vector collection ${name}: it does not hold one unnamed dense vector`,
          );
        }
        if (vectors.size !== dimension) {
          throw new DimensionMismatchError("ensure collection", name, vectors.size, dimension);
        }
        if (vectors.distance !== "Cosine") {
          throw new Error(
            `Cannot use vector collection ${name}: its distance is ${vectors.distance}, not Cosine`,
          );
        }
        if (!info.config.params.sparse_vectors?.[SPARSE_VECTOR]) {
          this.#log.warn(
            "vector collection has no sparse vector; lexical search finds nothing in it until its lexical backfill",
            { collection: name },
          );
        }
        await this.#ensureIndexes(name, info.payload_schema);
        if (!bulkLoad) await this.#ensureHnsw(name, info);
        return;
      }
      try {
        await this.#call("create collection", (c) =>
          c.createCollection(name, {
            vectors: { size: dimension, distance: "Cosine" },
            sparse_vectors: { [SPARSE_VECTOR]: { modifier: "idf" } },
            hnsw_config: { m: bulkLoad ? 0 : HNSW_M },
            // Distributed mode: how many shards the collection is split into and how many
            // copies of each the cluster keeps (a single node accepts 1 and 1).
            ...this.#distribution,
          }));
      } catch (err) {
        const status = httpStatus(err);
        // Another process created it first (409; 400 on older servers): read what it made.
        const raced = status === 409 ||
          (status === 400 && /already exists/.test(qdrantMessage(err)));
        if (!raced || attempt >= ENSURE_ATTEMPTS) {
          throw describe(`create vector collection ${name}`, err);
        }
      }
    }
  }

  async finishBulkLoad(name: string): Promise<void> {
    assertCollectionName(name);
    const info = await this.#info(name);
    if (!info) throw new CollectionNotFoundError("finish the bulk load", name);
    await this.#ensureHnsw(name, info);
  }

  /** Turns the HNSW graph on for a collection whose bulk load deferred it (`m` 0). */
  async #ensureHnsw(name: string, info: Schemas["CollectionInfo"]): Promise<void> {
    if (info.config.hnsw_config.m !== 0) return;
    try {
      await this.#call(
        "update collection",
        (c) => c.updateCollection(name, { hnsw_config: { m: HNSW_M } }),
      );
    } catch (err) {
      throw describe(`build the HNSW index of vector collection ${name}`, err);
    }
    this.#log.info("turned on the HNSW index of a bulk-loaded vector collection", {
      collection: name,
    });
  }

  async #ensureIndexes(name: string, schema: Schemas["CollectionInfo"]["payload_schema"]) {
    for (const field of INDEXED_FIELDS) {
      if (schema[field]?.data_type === "keyword") continue;
      try {
        await this.#call(
          "create payload index",
          (c) =>
            c.createPayloadIndex(name, { field_name: field, field_schema: "keyword", wait: true }),
        );
      } catch (err) {
        throw describe(`index ${field} of vector collection ${name}`, err);
      }
    }
  }

  async upsert(name: string, points: VectorPoint[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkPoints(name, points);
    for (let i = 0; i < checked.length; i += this.#batchSize) {
      const slice = checked.slice(i, i + this.#batchSize);
      const batch = (sparse: boolean): Schemas["PointStruct"][] =>
        slice.map((p) => {
          const vector: Record<string, number[] | Schemas["SparseVector"]> = {
            "": Array.from(p.vector),
          };
          const terms = sparse ? documentSparseVector(p.text) : undefined;
          if (terms && terms.indices.length > 0) vector[SPARSE_VECTOR] = terms;
          return {
            id: p.id,
            vector,
            payload: { ...p.payload, [URI_PREFIXES]: uriAncestors(p.payload.uri) },
          };
        });
      try {
        try {
          // No cache of which collections lack the sparse vector: another process's backfill
          // may add it at any time (a collection made before lexical retrieval costs one
          // refused request per batch until then).
          const points = batch(true);
          await this.#call("upsert", (c) => c.upsert(name, { wait: true, points }));
        } catch (err) {
          if (!missingVectorName(err)) throw err;
          // A collection made before lexical retrieval: write its vectors only.
          const points = batch(false);
          await this.#call("upsert", (c) => c.upsert(name, { wait: true, points }));
        }
      } catch (err) {
        if (httpStatus(err) === 404) throw new CollectionNotFoundError("upsert into", name);
        const dims = dimensionsFromError(err);
        if (dims) {
          throw new DimensionMismatchError("upsert into", name, dims.expected, dims.actual);
        }
        throw describe(`upsert into vector collection ${name}`, err);
      }
    }
  }

  async setLexical(name: string, points: LexicalText[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkLexicalTexts(`set the lexical index of ${name}`, points);
    if (checked.length === 0) return;
    const target = (await this.resolveAlias(name)) ?? name;
    await this.#ensureSparse(name, target);
    for (let i = 0; i < checked.length; i += this.#batchSize) {
      const slice = checked.slice(i, i + this.#batchSize);
      try {
        // Only points that exist: the update vectors API rejects the whole request otherwise.
        const existing = await this.#call("retrieve", (c) =>
          c.retrieve(target, {
            ids: slice.map((p) => p.id),
            with_payload: false,
            with_vector: false,
          }));
        const present = new Set(existing.map((r) => String(r.id).toLowerCase()));
        const updates: Schemas["PointVectors"][] = [];
        for (const p of slice) {
          const sparse = documentSparseVector(p.text);
          if (!present.has(p.id) || sparse.indices.length === 0) continue;
          updates.push({ id: p.id, vector: { [SPARSE_VECTOR]: sparse } });
        }
        if (updates.length === 0) continue;
        await this.#call(
          "update vectors",
          (c) => c.updateVectors(target, { wait: true, points: updates }),
        );
      } catch (err) {
        if (httpStatus(err) === 404 && /collection/i.test(qdrantMessage(err))) {
          throw new CollectionNotFoundError("set the lexical index of", name);
        }
        throw describe(`set the lexical index of vector collection ${name}`, err);
      }
    }
  }

  /** Creates the sparse vector on a collection made before lexical retrieval. */
  async #ensureSparse(name: string, target: string): Promise<void> {
    const info = await this.#info(target);
    if (!info) throw new CollectionNotFoundError("set the lexical index of", name);
    if (info.config.params.sparse_vectors?.[SPARSE_VECTOR]) return;
    this.#log.info("adding the sparse vector to a vector collection", { collection: target });
    try {
      await this.#call(
        "create vector",
        (c) =>
          c.createVectorName(target, SPARSE_VECTOR, { sparse: { modifier: "idf" } }, {
            wait: true,
          }),
      );
    } catch (err) {
      // Another process created it first: check that it is there.
      const again = await this.#info(target);
      if (!again?.config.params.sparse_vectors?.[SPARSE_VECTOR]) {
        throw describe(`add the sparse vector to vector collection ${name}`, err);
      }
    }
  }

  async deleteByDocument(name: string, documentIds: string[]): Promise<void> {
    assertCollectionName(name);
    const ids = checkDocumentIds(`delete from ${name}`, documentIds);
    if (ids.length === 0) return;
    await this.#delete(name, { filter: { must: [{ key: "document_id", match: { any: ids } }] } });
  }

  async deleteByIds(name: string, ids: string[]): Promise<void> {
    assertCollectionName(name);
    const checked = checkIds(`delete from ${name}`, ids);
    if (checked.length === 0) return;
    await this.#delete(name, { points: checked });
  }

  async #delete(name: string, selector: Schemas["PointsSelector"]): Promise<void> {
    try {
      await this.#call("delete points", (c) => c.delete(name, { wait: true, ...selector }));
    } catch (err) {
      if (httpStatus(err) === 404) return;
      throw describe(`delete from vector collection ${name}`, err);
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
    try {
      const res = await this.#call("query points", (c) =>
        c.query(name, {
          query: Array.from(query),
          limit: o.k,
          score_threshold: o.scoreThreshold,
          filter: filterFor(o),
          with_payload: true,
          with_vector: false,
        }));
      return res.points.map((p) => ({
        id: String(p.id),
        score: p.score,
        payload: stripInternal(p.payload),
      }));
    } catch (err) {
      if (httpStatus(err) === 404) return [];
      const dims = dimensionsFromError(err);
      if (dims) throw new DimensionMismatchError("search", name, dims.expected, dims.actual);
      throw describe(`search vector collection ${name}`, err);
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
    const sparse = querySparseVector(query);
    if (sparse.indices.length === 0) return [];
    try {
      const res = await this.#call("query points", (c) =>
        c.query(name, {
          query: sparse,
          using: SPARSE_VECTOR,
          limit: o.k,
          filter: filterFor(o),
          with_payload: true,
          with_vector: false,
        }));
      return res.points.map((p) => ({
        id: String(p.id),
        score: p.score,
        payload: stripInternal(p.payload),
      }));
    } catch (err) {
      if (httpStatus(err) === 404 || missingVectorName(err)) return [];
      throw describe(`search vector collection ${name} lexically`, err);
    }
  }

  hybridSearch(
    name: string,
    vector: Float32Array | number[],
    query: string,
    options: HybridSearchOptions,
  ): Promise<HybridHit[]> {
    return this.#hybrid(name, vector, query, options, true);
  }

  async #hybrid(
    name: string,
    vector: Float32Array | number[],
    query: string,
    options: HybridSearchOptions,
    withLexical: boolean,
  ): Promise<HybridHit[]> {
    assertCollectionName(name);
    const dense = Array.from(checkVector(`search ${name}`, vector));
    checkQueryText(`search ${name}`, query);
    const o = checkHybridOptions(name, options);
    if (o.documentIds?.length === 0) return [];
    const sparse = querySparseVector(query);
    const filter = filterFor(o);
    const denseQuery: Schemas["QueryRequest"] = {
      query: dense,
      limit: o.depth,
      score_threshold: o.scoreThreshold,
      filter,
      with_payload: false,
      with_vector: false,
    };
    const sparseQuery: Schemas["QueryRequest"] = {
      query: sparse,
      using: SPARSE_VECTOR,
      limit: o.depth,
      filter,
      with_payload: false,
      with_vector: false,
    };
    const lexical = withLexical && sparse.indices.length > 0;
    const prefetch: Schemas["Prefetch"][] = [
      { query: dense, limit: o.depth, score_threshold: o.scoreThreshold, filter },
    ];
    if (lexical) prefetch.push({ query: sparse, using: SPARSE_VECTOR, limit: o.depth, filter });
    const fused: Schemas["QueryRequest"] = {
      prefetch,
      query: { rrf: { k: o.rrfK } },
      limit: o.k,
      filter,
      with_payload: true,
      with_vector: false,
    };
    let answers: Schemas["QueryResponse"][];
    try {
      answers = await this.#call("query points in batch", (c) =>
        c.queryBatch(name, {
          searches: lexical ? [fused, denseQuery, sparseQuery] : [fused, denseQuery],
        }));
    } catch (err) {
      if (httpStatus(err) === 404) return [];
      if (missingVectorName(err) && lexical) {
        // A collection made before lexical retrieval (until its backfill): the dense list alone.
        return await this.#hybrid(name, vector, query, options, false);
      }
      const dims = dimensionsFromError(err);
      if (dims) throw new DimensionMismatchError("search", name, dims.expected, dims.actual);
      throw describe(`search vector collection ${name}`, err);
    }
    const [top, denseList, sparseList] = answers;
    const scores = (r: Schemas["QueryResponse"] | undefined) =>
      new Map((r?.points ?? []).map((p) => [String(p.id), p.score]));
    const denseScores = scores(denseList);
    const lexicalScores = scores(sparseList);
    return (top?.points ?? []).map((p) => ({
      id: String(p.id),
      score: p.score,
      payload: stripInternal(p.payload),
      dense: denseScores.get(String(p.id)) ?? null,
      lexical: lexicalScores.get(String(p.id)) ?? null,
    }));
  }

  async count(name: string): Promise<number> {
    assertCollectionName(name);
    try {
      const res = await this.#call("count points", (c) => c.count(name, { exact: true }));
      return res.count;
    } catch (err) {
      if (httpStatus(err) === 404) return 0;
      throw describe(`count vector collection ${name}`, err);
    }
  }

  async drop(name: string): Promise<void> {
    assertCollectionName(name);
    // Qdrant deletes by collection name only, and removes the collection's aliases itself.
    const target = (await this.resolveAlias(name)) ?? name;
    try {
      await this.#call("delete collection", (c) => c.deleteCollection(target));
    } catch (err) {
      if (httpStatus(err) === 404) return;
      throw describe(`drop vector collection ${target}`, err);
    }
  }

  async setAlias(alias: string, target: string): Promise<string | undefined> {
    assertCollectionName(alias, "alias");
    assertCollectionName(target, "alias target");
    if (alias === target) throw new TypeError(`Cannot point alias ${alias} at itself`);
    const previous = await this.resolveAlias(alias);
    try {
      // create_alias replaces an existing alias in one step; a delete_alias first would leave
      // the alias missing if the create failed.
      await this.#call("update aliases", (c) =>
        c.updateCollectionAliases({
          actions: [{ create_alias: { collection_name: target, alias_name: alias } }],
        }));
    } catch (err) {
      const status = httpStatus(err);
      if (status === 404) throw new CollectionNotFoundError(`point alias ${alias} at`, target);
      if (status === 400 && /already exists/.test(qdrantMessage(err))) {
        throw new TypeError(`Cannot point alias ${alias} at ${target}: ${alias} is a collection`);
      }
      throw describe(`point alias ${alias} at ${target}`, err);
    }
    return previous;
  }

  async resolveAlias(alias: string): Promise<string | undefined> {
    assertCollectionName(alias, "alias");
    try {
      const res = await this.#call("list aliases", (c) => c.getAliases());
      return res.aliases.find((a) => a.alias_name === alias)?.collection_name;
    } catch (err) {
      throw describe("list Qdrant aliases", err);
    }
  }

  async deleteAlias(alias: string): Promise<void> {
    assertCollectionName(alias, "alias");
    try {
      await this.#call(
        "update aliases",
        (c) => c.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: alias } }] }),
      );
    } catch (err) {
      throw describe(`delete alias ${alias}`, err);
    }
  }

  /** Asks the server on every call (no retries), within `readyTimeoutMs`. */
  async ready(): Promise<VectorStoreReadiness> {
    try {
      await probeWithin(() => this.#client.getCollections(), this.#readyTimeoutMs);
      return { ok: true };
    } catch (err) {
      const status = httpStatus(err);
      if (status === 401 || status === 403) {
        return {
          ok: false,
          reason: `Qdrant at ${this.#url} refused the API key (${status}: ${
            qdrantMessage(err)
          }): check QDRANT_API_KEY`,
        };
      }
      if (status !== undefined) {
        return {
          ok: false,
          reason: `Qdrant at ${this.#url} answered ${status}: ${qdrantMessage(err)}`,
        };
      }
      return {
        ok: false,
        reason: `Qdrant at ${this.#url} is not reachable: ${qdrantMessage(err)}`,
      };
    }
  }

  close(): Promise<void> {
    // The client holds no connection of its own beyond fetch's pool.
    return Promise.resolve();
  }
}
