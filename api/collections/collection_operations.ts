/**
 * The write operations on a collection (delete, add or remove a source, sync, reindex): each
 * records an operation (one active per collection) and dispatches its job after the commit.
 */
import {
  AppError,
  type CollectionRow,
  insertOperation,
  type OperationJson,
  type OperationRow,
  type OperationType,
  type Queryable,
  type ReindexInput,
  type SourceInput,
  type SourceRow,
  toOperationJson,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { checkModel, dispatchAfterCommit, insertSource } from "./_collection_writes.ts";
import { type SourceJson, toSourceJson } from "./collection_json.ts";
import { getOwnedCollection, type OwnedCollectionOptions } from "./owned_collection.ts";
import { prepareSource } from "./prepare_source.ts";

/** Which operation to start, on whose collection. */
export interface StartOperationOptions extends OwnedCollectionOptions {
  /** The operation's type. */
  type: OperationType;
  /** Computes the operation's config inside the transaction; `{}` when absent. */
  prepare?: (tx: Queryable, c: CollectionRow) => Promise<Record<string, unknown>>;
}

/**
 * Starts a write operation on an owned collection (409 when another is active, or when the
 * collection is being deleted); `prepare` computes the operation's config inside the
 * transaction.
 */
export async function startOperation(
  deps: CollectionDeps,
  { userId, collectionId: id, type, prepare }: StartOperationOptions,
): Promise<OperationRow> {
  const op = await deps.db.transaction(async (tx) => {
    const c = await getOwnedCollection(tx, { userId, collectionId: id });
    if (c.status === "deleting") {
      throw new AppError("conflict", `Collection ${id} is being deleted`);
    }
    const config = prepare ? await prepare(tx, c) : {};
    const op = await insertOperation(tx, { collectionId: id, ownerId: userId, type, config });
    if (type === "delete") {
      await tx.query(
        "update collections set status = 'deleting', updated_at = now() where id = $1",
        [id],
      );
    }
    return op;
  });
  await dispatchAfterCommit(deps, op);
  return op;
}

export async function deleteCollection(
  deps: CollectionDeps,
  { userId, collectionId: id }: OwnedCollectionOptions,
): Promise<OperationJson> {
  return toOperationJson(await startOperation(deps, { userId, collectionId: id, type: "delete" }));
}

export async function addSource(
  deps: CollectionDeps,
  { userId, collectionId: id, source }: OwnedCollectionOptions & { source: SourceInput },
): Promise<{ source: SourceJson; operation: OperationJson }> {
  await getOwnedCollection(deps.db, { userId, collectionId: id });
  const prepared = await prepareSource(deps, source);
  let created: SourceRow | undefined;
  const op = await startOperation(deps, {
    userId,
    collectionId: id,
    type: "append",
    prepare: async (tx) => {
      created = await insertSource(tx, { collectionId: id, prepared });
      return { source_id: created.id };
    },
  });
  return { source: toSourceJson(created!), operation: toOperationJson(op) };
}

export async function removeSource(
  deps: CollectionDeps,
  { userId, collectionId: id, sourceId }: OwnedCollectionOptions & { sourceId: string },
): Promise<OperationJson> {
  const op = await startOperation(deps, {
    userId,
    collectionId: id,
    type: "remove_source",
    prepare: async (tx) => {
      const [s] = await tx.query<{ id: string }>(
        "select id from collection_sources where id = $1 and collection_id = $2",
        [sourceId, id],
      );
      if (!s) {
        throw new AppError("not_found", `Source ${sourceId} does not exist in collection ${id}`);
      }
      return { source_id: sourceId };
    },
  });
  return toOperationJson(op);
}

export async function syncCollection(
  deps: CollectionDeps,
  { userId, collectionId: id }: OwnedCollectionOptions,
): Promise<OperationJson> {
  const op = await startOperation(deps, {
    userId,
    collectionId: id,
    type: "sync",
    prepare: async (tx) => {
      const [n] = await tx.query<{ n: number }>(
        "select count(*) as n from collection_sources where collection_id = $1",
        [id],
      );
      if (!n || n.n === 0) {
        throw new AppError("conflict", `Collection ${id} has no source to sync`);
      }
      return { trigger: "api" };
    },
  });
  return toOperationJson(op);
}

export async function reindexCollection(
  deps: CollectionDeps,
  { userId, collectionId: id, input }: OwnedCollectionOptions & { input: ReindexInput },
): Promise<OperationJson> {
  if (input.lexical_only) {
    // The lexical backfill: the existing points' terms from their chunk text, no re-embedding.
    const op = await startOperation(deps, {
      userId,
      collectionId: id,
      type: "reindex",
      prepare: () => Promise.resolve({ lexical_only: true }),
    });
    return toOperationJson(op);
  }
  const current = await getOwnedCollection(deps.db, { userId, collectionId: id });
  const model = input.embedding_model ?? current.embedding_model;
  const chunkSize = input.chunk_size ?? current.chunk_size;
  const chunkOverlap = input.chunk_overlap ??
    Math.min(current.chunk_overlap, chunkSize - 1);
  const { dimension } = await checkModel(deps, { model, chunkSize, chunkOverlap });
  const op = await startOperation(deps, {
    userId,
    collectionId: id,
    type: "reindex",
    prepare: () =>
      Promise.resolve({
        embedding_model: model,
        ...(input.embedding_precision ? { embedding_precision: input.embedding_precision } : {}),
        vector_dim: dimension,
        chunk_size: chunkSize,
        chunk_overlap: chunkOverlap,
      }),
  });
  return toOperationJson(op);
}
