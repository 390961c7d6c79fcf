/**
 * The vector store interface: one small surface that the worker (upserts, deletes), the API
 * (search, counts, readiness) and the reindex task (blue/green aliases) use, with two
 * implementations that pass one contract suite (`tests/vector_store_contract_test.ts`):
 * `QdrantStore` and `PgvectorStore`.
 *
 * Names. Every method that takes a `name` accepts a physical collection name or an alias.
 * Names must match `COLLECTION_NAME_PATTERN` (callers use `col_<uuid hex>_<generation>`
 * for collections and `col_<uuid hex>` for aliases); anything else is a `TypeError`.
 *
 * Missing collections. Reads of a missing collection return nothing (`search` gives `[]`,
 * `count` gives 0), deletes and `drop` are no-ops, so retried cleanup jobs are idempotent.
 * Writes (`upsert`) throw `CollectionNotFoundError`: points must never vanish silently.
 *
 * Dimensions. A vector whose length differs from the collection's throws
 * `DimensionMismatchError`, for upserts and searches alike.
 */
/** What every point carries; the stores index `document_id` and filter on `uri`. */
export type VectorPayload = {
  collection_id: string;
  document_id: string;
  /** The document's absolute path; {@link VectorSearchOptions.uriPrefix} filters on it. */
  uri: string;
  chunk_index: number;
} & Record<string, unknown>;

export interface VectorPoint {
  /** A UUID; use `pointId` so a re-run overwrites instead of duplicating. */
  id: string;
  vector: Float32Array | number[];
  payload: VectorPayload;
  /**
   * The chunk text, for lexical retrieval: the store indexes its terms (see `lexical.ts`) and
   * keeps no copy of the text itself. Without it the point is found by vector only.
   */
  text?: string;
}

export interface VectorHit {
  /** The point id, lower-case UUID. */
  id: string;
  /** Cosine similarity in [-1, 1]; higher is closer. */
  score: number;
  payload: VectorPayload;
}

export interface VectorSearchOptions {
  /** Most hits returned, 1 to 1000. */
  k: number;
  /** Only hits with `score >= scoreThreshold`. @default {undefined (no threshold)} */
  scoreThreshold?: number;
  /** Only points of these documents; an empty list matches nothing. @default {undefined} */
  documentIds?: string[];
  /**
   * Only points whose `uri` lies under this path: the uri equals it or continues with `/` after
   * it. `"/docs"` and `"/docs/"` match `/docs/a.txt`, not `/docs2/a.txt`; `"/"` matches every
   * absolute path. @default {undefined}
   */
  uriPrefix?: string;
}

/** Options of {@link VectorStore.hybridSearch}. */
export interface HybridSearchOptions extends VectorSearchOptions {
  /** How deep each retriever's list goes, k to 1000. @default {fusionDepth(k): max(3k, 30)} */
  depth?: number;
  /** The reciprocal rank fusion constant, 1 to 1000. @default {60} */
  rrfK?: number;
}

/** A hit of a hybrid search: the fused score and what each retriever said. */
export interface HybridHit extends VectorHit {
  /** Σ 1/(rrfK + rank) over the lists that returned the point (ranks from 1). */
  score: number;
  /** Cosine similarity, or null when the dense list (depth deep) did not return the point. */
  dense: number | null;
  /** Lexical relevance, or null when the lexical list did not return the point. */
  lexical: number | null;
}

/** A point's text for {@link VectorStore.setLexical}. */
export interface LexicalText {
  /** The point id (a UUID). */
  id: string;
  text: string;
}

/** Options of {@link VectorStore.ensureCollection}. */
export interface EnsureCollectionOptions {
  /**
   * The caller is about to load many points into a collection nobody searches yet (a new
   * collection's first index, a reindex's new generation): a collection this call creates gets
   * no approximate-nearest-neighbour index until {@link VectorStore.finishBulkLoad} (pgvector:
   * no HNSW index; Qdrant: `hnsw_config.m` 0), since building it once over every point costs a
   * fraction of inserting each point into it. An existing collection is left as it is. Without
   * the option, a collection whose index a bulk load deferred and never built (its operation
   * failed) gets it built now. @default {false}
   */
  bulkLoad?: boolean;
}

export type VectorStoreReadiness = { ok: true } | { ok: false; reason: string };

export interface VectorStore {
  readonly kind: "qdrant" | "pgvector";
  /**
   * Creates the collection (cosine distance, index on `document_id`) unless it exists. An
   * existing one with another dimension throws `DimensionMismatchError`. Safe to call
   * concurrently from several processes. Given an alias, checks the collection it points to.
   */
  ensureCollection(
    name: string,
    dimension: number,
    options?: EnsureCollectionOptions,
  ): Promise<void>;
  /**
   * Builds the approximate-nearest-neighbour index that a bulk load deferred
   * ({@link EnsureCollectionOptions.bulkLoad}); no-op when it is built. Searches return the same
   * points before and after; after, they walk the index instead of comparing every point.
   * A missing collection throws `CollectionNotFoundError`.
   */
  finishBulkLoad(name: string): Promise<void>;
  /**
   * Inserts or overwrites points by id; visible to searches when the promise resolves. Large
   * lists are written in batches (each batch atomic, the whole list not). Repeated ids in one
   * call: the last wins.
   */
  upsert(name: string, points: VectorPoint[]): Promise<void>;
  /**
   * Rewrites the lexical index of existing points from their text (as an upsert with `text`
   * would), leaving their dense vectors and payloads untouched: the lexical backfill of a
   * collection made before lexical retrieval, without re-embedding. A collection without the
   * lexical structures gets them first (pgvector: the columns and GIN index; Qdrant: the sparse
   * vector, created on the existing collection). Ids that are not in the collection are skipped.
   * A missing collection throws `CollectionNotFoundError`.
   */
  setLexical(name: string, points: LexicalText[]): Promise<void>;
  /** Deletes every point of these documents, in one statement or request. */
  deleteByDocument(name: string, documentIds: string[]): Promise<void>;
  deleteByIds(name: string, ids: string[]): Promise<void>;
  /** The `k` points closest to `vector` by cosine similarity, best first. */
  search(
    name: string,
    vector: Float32Array | number[],
    options: VectorSearchOptions,
  ): Promise<VectorHit[]>;
  /**
   * The `k` points whose text best matches `query` by its terms (see `lexical.ts`), best first;
   * `score` is the store's relevance (pgvector: `ts_rank`; Qdrant: BM25), higher is better and
   * comparable only within one store. Points upserted without text are never found.
   * `scoreThreshold` is not accepted here.
   */
  lexicalSearch(name: string, query: string, options: VectorSearchOptions): Promise<VectorHit[]>;
  /**
   * Dense and lexical lists, each `depth` deep, fused by reciprocal rank (rrfK), best `k` first.
   * `scoreThreshold` applies to the dense list. Qdrant fuses on the server (Query API prefetch
   * and RRF); pgvector in the store.
   */
  hybridSearch(
    name: string,
    vector: Float32Array | number[],
    query: string,
    options: HybridSearchOptions,
  ): Promise<HybridHit[]>;
  /** Exact number of points. */
  count(name: string): Promise<number>;
  /**
   * Drops the collection `name` refers to, and every alias pointing to it (as Qdrant does).
   * No-op when missing.
   */
  drop(name: string): Promise<void>;
  /**
   * Points `alias` at the collection `target` (which must exist: else
   * `CollectionNotFoundError`) in one atomic step: a search through the alias sees the
   * old collection or the new one, never neither. Returns the previous target, as read just
   * before the switch. An alias may not share a collection's name (`TypeError`).
   */
  setAlias(alias: string, target: string): Promise<string | undefined>;
  /** The collection an alias points to, or undefined for no such alias. */
  resolveAlias(alias: string): Promise<string | undefined>;
  /** Removes an alias; no-op when missing. */
  deleteAlias(alias: string): Promise<void>;
  /** Reachable and usable (pgvector: the `vector` extension exists), or why not. Never throws. */
  ready(): Promise<VectorStoreReadiness>;
  /** Releases what the store opened (never a database it was given). Idempotent. */
  close(): Promise<void>;
}
