/**
 * What the collection writes share (private): the model and chunk-size check, a source row
 * insert, and the dispatch of an operation's job after its commit.
 */
import {
  AppError,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_PAGES,
  isUniqueViolation,
  type OperationRow,
  type Queryable,
  type SourceRow,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import type { PreparedSource } from "./prepare_source.ts";

/** Options of {@link checkModel}: the settings a collection would embed with. */
export interface ModelSettings {
  model: string;
  chunkSize: number;
  chunkOverlap: number;
}

/** The model's dimension, once the model exists and can embed chunks of this size and overlap. */
export async function checkModel(
  deps: CollectionDeps,
  settings: ModelSettings,
): Promise<{ dimension: number }> {
  const { model, chunkSize, chunkOverlap } = settings;
  const info = await deps.models.resolve(model);
  if (chunkSize > info.maxChunkTokens) {
    throw new AppError(
      "chunk_too_large",
      `chunk_size ${chunkSize} is above what ${model} can embed (${info.maxChunkTokens} tokens)`,
      { max_chunk_size: info.maxChunkTokens },
    );
  }
  if (chunkOverlap >= chunkSize) {
    throw new AppError(
      "invalid_request",
      `chunk_overlap (${chunkOverlap}) must be smaller than chunk_size (${chunkSize})`,
    );
  }
  return { dimension: info.dimension };
}

/** Options of {@link insertSource}. */
export interface NewSource {
  collectionId: string;
  /** The checked source (`prepareSource`). */
  prepared: PreparedSource;
}

/**
 * Inserts a source row; a second source at the same path (or the same URL and ref) is a 409
 * `conflict`.
 */
export async function insertSource(tx: Queryable, options: NewSource): Promise<SourceRow> {
  const { collectionId, prepared } = options;
  const { id, source, realPath, sealedToken } = prepared;
  const url = source.type === "directory" ? null : source.url;
  try {
    const [row] = await tx.query<SourceRow>(
      `insert into collection_sources (id, collection_id, type, path, url, ref, token_sealed,
                                       max_pages, max_depth, include, exclude)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb) returning *`,
      [
        id,
        collectionId,
        source.type,
        realPath,
        url,
        source.type === "git" ? source.ref ?? null : null,
        sealedToken,
        source.type === "web" ? source.max_pages ?? DEFAULT_MAX_PAGES : null,
        source.type === "web" ? source.max_depth ?? DEFAULT_MAX_DEPTH : null,
        source.include ?? [],
        source.exclude ?? [],
      ] as never,
    );
    return row!;
  } catch (err) {
    if (isUniqueViolation(err, "collection_sources_path_key")) {
      throw new AppError("conflict", `The collection already has a source at ${realPath}`);
    }
    if (isUniqueViolation(err, "collection_sources_url_key")) {
      const ref = source.type === "git" && source.ref ? ` (ref ${source.ref})` : "";
      throw new AppError("conflict", `The collection already has a source at ${url}${ref}`);
    }
    throw err;
  }
}

export async function dispatchAfterCommit(deps: CollectionDeps, op: OperationRow): Promise<void> {
  try {
    await deps.dispatch(op);
  } catch (err) {
    deps.log?.warn("operation saved but its job could not be enqueued; reconcile will retry", {
      operation_id: op.id,
      err,
    });
  }
}
