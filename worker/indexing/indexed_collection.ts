/**
 * What indexing reads of a collection and its sources, and what it needs from the process
 * (database, vector store, models, settings) and from the operation it runs for.
 */
import {
  AppError,
  type Db,
  type Embedder,
  type Logger,
  type Precision,
  type Queryable,
  SecretError,
  SourceError,
  type VectorStore,
} from "@semantik/shared";
import type { EmbeddingGate } from "./indexing_pipeline.ts";
import type { SourceDeps } from "./open_source.ts";

export interface IndexedCollection {
  id: string;
  owner_id: string;
  status: string;
  embedding_model: string;
  /** Null until the first indexing run records the precision it used. */
  embedding_precision: Precision | null;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  /** The generation searches use: vectors in `col_<hex>_g<N>`, chunk rows tagged N. */
  vector_generation: number;
}

/** A source as indexing reads it (the row's columns it needs). */
export interface IndexedSource {
  id: string;
  type: "directory" | "git" | "web";
  /** A directory source's real path; null for Git and web. */
  path: string | null;
  url: string | null;
  ref: string | null;
  token_sealed: string | null;
  max_pages: number | null;
  max_depth: number | null;
  include: string[];
  exclude: string[];
}

/** What indexing functions need of the process. */
export interface IndexingDeps {
  db: Db;
  vectors: VectorStore;
  models: { get(name: string, options?: { precision?: Precision }): Promise<Embedder> };
  /** DOCUMENT_ROOTS: sources and symlink targets must lie inside. */
  documentRoots: readonly string[];
  /** MAX_FILE_SIZE_MB in bytes. */
  maxFileSizeBytes: number;
  /** The worker's embedding semaphore. @default {none} */
  gate?: EmbeddingGate;
  log?: Logger;
  /** Pipeline tuning (tests, benchmarks). @default {the pipeline's defaults} */
  batchChunks?: number;
  /** @default {the pipeline's defaults} */
  prefetchBatches?: number;
  /** Plain-text files of at least this size are streamed. @default {the pipeline's default} */
  streamTextAboveBytes?: number;
  /** What Git and web sources need (DATA_DIR, the secrets box...). @default {directories only} */
  sources?: SourceDeps;
}

/** What an operation's work reports through (a `TaskContext` is one). */
export interface OperationReporter {
  readonly signal: AbortSignal;
  /** Coalesced progress, 0-100, with a message and partial metadata. */
  updateProgress(progress: number, message?: string, metadata?: Record<string, unknown>): void;
  /** Throws when the operation was cancelled or the job aborted. */
  checkpoint(): Promise<void>;
}

/** The operation being worked on. */
export interface OperationRef {
  id: string;
  collection_id: string;
  config: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** An operation's work: what it reports through, and the operation. */
export interface OperationRun<R extends OperationReporter = OperationReporter> {
  reporter: R;
  op: OperationRef;
}

/** The collection, or a `not_found` AppError naming it. */
export async function loadIndexedCollection(
  db: Queryable,
  collectionId: string,
): Promise<IndexedCollection> {
  const [row] = await db.query<IndexedCollection>(
    `select id, owner_id, status, embedding_model, embedding_precision, vector_dim, chunk_size,
            chunk_overlap,
            vector_generation
       from collections where id = $1`,
    [collectionId],
  );
  if (!row) throw new AppError("not_found", `Collection ${collectionId} does not exist`);
  return row;
}

/** The collection's sources (all, or those of `ids`, each of which must exist). */
export async function loadSources(
  db: Queryable,
  { collectionId, sourceIds: ids }: {
    collectionId: string;
    /** @default {every source of the collection} */
    sourceIds?: readonly string[];
  },
): Promise<IndexedSource[]> {
  const rows = await db.query<IndexedSource>(
    `select id, type, path, url, ref, token_sealed, max_pages, max_depth, include, exclude
       from collection_sources
      where collection_id = $1 ${ids ? "and id = any($2::uuid[])" : ""}
      order by created_at, id`,
    ids ? [collectionId, [...ids]] : [collectionId],
  );
  for (const id of ids ?? []) {
    if (!rows.some((r) => r.id === id)) {
      throw new AppError("not_found", `Source ${id} does not exist in collection ${collectionId}`);
    }
  }
  return rows.map((r) => ({ ...r, include: r.include ?? [], exclude: r.exclude ?? [] }));
}

/**
 * The collection's model, checked against the collection's dimension, at `precision` (the
 * collection's recorded one), or at the registry's default when none is recorded yet.
 */
export async function embedderFor(
  deps: Pick<IndexingDeps, "models">,
  { model, dimension, precision }: {
    model: string;
    dimension: number;
    /** @default {the registry's default} */
    precision?: Precision | null;
  },
): Promise<Embedder> {
  const embedder = await deps.models.get(model, precision ? { precision } : {});
  if (embedder.dimension !== dimension) {
    throw new AppError(
      "model_mismatch",
      `Cannot index with ${model}: it makes ${embedder.dimension}-dimensional vectors, the ` +
        `collection holds ${dimension}`,
    );
  }
  return embedder;
}

/**
 * The embedder of an indexing run: at the collection's recorded precision, so new vectors match
 * the old ones and the queries. A collection without one yet gets the registry's default, which
 * is recorded before any vector is written; when another worker (another device, another
 * default) recorded a different one first, that one is used.
 */
export async function collectionEmbedder(
  deps: Pick<IndexingDeps, "models" | "db">,
  c: IndexedCollection,
): Promise<Embedder> {
  const embedder = await embedderFor(deps, {
    model: c.embedding_model,
    dimension: c.vector_dim,
    precision: c.embedding_precision,
  });
  if (c.embedding_precision !== null) return embedder;
  const [row] = await deps.db.query<{ embedding_precision: Precision }>(
    `update collections set embedding_precision = coalesce(embedding_precision, $2)
      where id = $1 returning embedding_precision`,
    [c.id, embedder.precision],
  );
  if (!row) throw new AppError("not_found", `Collection ${c.id} does not exist`);
  c.embedding_precision = row.embedding_precision;
  return row.embedding_precision === embedder.precision ? embedder : await embedderFor(deps, {
    model: c.embedding_model,
    dimension: c.vector_dim,
    precision: row.embedding_precision,
  });
}

/**
 * Errors that another attempt cannot fix (the collection or source is gone, the path is no
 * longer allowed, the model is unknown): the operation fails at once instead of being retried.
 */
export function isPermanentFailure(err: unknown): boolean {
  return err instanceof AppError &&
      [
        "not_found",
        "invalid_request",
        "path_not_allowed",
        "unknown_model",
        "model_mismatch",
        "chunk_too_large",
      ]
        .includes(err.code) ||
    // A refused token, a missing repository, a private address: another attempt cannot help.
    (err instanceof SourceError && err.permanent) ||
    // A sealed token that no longer opens (SECRETS_KEY changed).
    err instanceof SecretError;
}
