/**
 * What indexing reads of a collection and its sources, and what it needs from the process
 * (database, vector store, models, settings) and from the operation it runs for.
 */
import type { Db, Queryable } from "../db/db.ts";
import type { Embedder } from "../embedding/embedder.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { VectorStore } from "../vector/vector_store.ts";
import type { EmbeddingGate } from "./indexing_pipeline.ts";

export interface IndexedCollection {
  id: string;
  owner_id: string;
  status: string;
  embedding_model: string;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  /** The generation searches use: vectors in `col_<hex>_g<N>`, chunk rows tagged N. */
  vector_generation: number;
}

export interface IndexedSource {
  id: string;
  path: string;
  include: string[];
  exclude: string[];
}

/** What indexing functions need of the process. */
export interface IndexingDeps {
  db: Db;
  vectors: VectorStore;
  models: { get(name: string): Promise<Embedder> };
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

/** The collection, or a `not_found` AppError naming it. */
export async function loadIndexedCollection(
  db: Queryable,
  collectionId: string,
): Promise<IndexedCollection> {
  const [row] = await db.query<IndexedCollection>(
    `select id, owner_id, status, embedding_model, vector_dim, chunk_size, chunk_overlap,
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
  collectionId: string,
  ids?: readonly string[],
): Promise<IndexedSource[]> {
  const rows = await db.query<IndexedSource>(
    `select id, path, include, exclude from collection_sources
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

/** The collection's model, checked against the collection's dimension. */
export async function embedderFor(
  deps: Pick<IndexingDeps, "models">,
  model: string,
  dimension: number,
): Promise<Embedder> {
  const embedder = await deps.models.get(model);
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
      .includes(err.code);
}
