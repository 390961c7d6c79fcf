/**
 * Collections: the domain functions the API routes call. Each validates what the schema cannot
 * (model, chunk size against the model, source path against DOCUMENT_ROOTS, ownership), writes
 * Postgres in one transaction, and, for write operations, dispatches the operation's job after
 * the commit. If that dispatch fails (Redis down), the operation stays `pending` in Postgres and
 * the reconciler enqueues it later: nothing is lost.
 *
 * This file creates, reads, lists and updates collections and re-exports the rest of the folder:
 * the JSON shapes (`collection_json.ts`), ownership (`owned_collection.ts`), the write operations
 * (`collection_operations.ts`), the document list (`list_documents.ts`) and one document's text
 * or chunk (`document_text.ts`).
 */
import {
  AppError,
  type CollectionRow,
  type CreateCollectionInput,
  DEFAULT_CHUNK_OVERLAP,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_SYNC_INTERVAL_MINUTES,
  insertOperation,
  isUniqueViolation,
  keysetPage,
  type OperationJson,
  type OperationRow,
  toOperationJson,
  type UpdateCollectionInput,
  vectorStoreNameFor,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { checkModel, dispatchAfterCommit, insertSource } from "./_collection_writes.ts";
import { type CollectionJson, toCollectionJson, toJsonMany } from "./collection_json.ts";
import { getOwnedCollection, type OwnedCollectionOptions } from "./owned_collection.ts";
import { prepareSource } from "./prepare_source.ts";

export type { CollectionDeps } from "./collection_deps.ts";
export * from "./collection_json.ts";
export * from "./owned_collection.ts";
export * from "./collection_operations.ts";
export * from "./list_documents.ts";
export * from "./document_text.ts";
export * from "./sync_control.ts";
export * from "./document_retry.ts";
export * from "./document_content.ts";

export async function createCollection(
  deps: CollectionDeps,
  { userId, input }: { userId: string; input: CreateCollectionInput },
): Promise<{ collection: CollectionJson; operation: OperationJson | null }> {
  const model = input.embedding_model ?? deps.defaultEmbeddingModel;
  const chunkSize = input.chunk_size ?? DEFAULT_CHUNK_SIZE;
  const chunkOverlap = input.chunk_overlap ?? Math.min(DEFAULT_CHUNK_OVERLAP, chunkSize - 1);
  const { dimension } = await checkModel(deps, { model, chunkSize, chunkOverlap });
  const prepared = input.source ? await prepareSource(deps, input.source) : undefined;
  const id = crypto.randomUUID();
  const syncMode = input.sync_mode ?? "one_time";
  const interval = input.sync_interval_minutes ?? DEFAULT_SYNC_INTERVAL_MINUTES;

  const { row, op } = await deps.db.transaction(async (tx) => {
    let row: CollectionRow;
    try {
      [row] = await tx.query<CollectionRow>(
        `insert into collections (id, owner_id, name, description, status, embedding_model,
           vector_dim, chunk_size, chunk_overlap, sync_mode, sync_interval_minutes,
           vector_store_name, next_sync_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 case when $10 = 'continuous' then now() + make_interval(mins => $11) end)
         returning *`,
        [
          id,
          userId,
          input.name,
          input.description ?? "",
          prepared ? "pending" : "ready",
          model,
          dimension,
          chunkSize,
          chunkOverlap,
          syncMode,
          interval,
          vectorStoreNameFor(id),
        ],
      ) as [CollectionRow];
    } catch (err) {
      if (isUniqueViolation(err, "collections_owner_name_key")) {
        throw new AppError("conflict", `You already have a collection named ${input.name}`);
      }
      throw err;
    }
    let op: OperationRow | undefined;
    if (prepared) {
      const source = await insertSource(tx, { collectionId: id, prepared });
      op = await insertOperation(tx, {
        collectionId: id,
        ownerId: userId,
        type: "index",
        config: { source_id: source.id },
      });
    }
    return { row, op };
  });
  if (op) await dispatchAfterCommit(deps, op);
  return {
    collection: await toCollectionJson(deps, row),
    operation: op ? toOperationJson(op) : null,
  };
}

export async function getCollection(
  deps: CollectionDeps,
  { userId, collectionId: id }: OwnedCollectionOptions,
): Promise<CollectionJson> {
  return await toCollectionJson(
    deps,
    await getOwnedCollection(deps.db, { userId, collectionId: id }),
  );
}

export async function listCollections(
  deps: CollectionDeps,
  options: { userId: string; limit: number; cursor?: string },
): Promise<{ collections: CollectionJson[]; next_cursor: string | null }> {
  const page = await keysetPage<CollectionRow>(deps.db, {
    from: "collections",
    where: ["owner_id = $1"],
    params: [options.userId],
    limit: options.limit,
    cursor: options.cursor,
  });
  return { collections: await toJsonMany(deps, page.items), next_cursor: page.nextCursor };
}

export async function updateCollection(
  deps: CollectionDeps,
  { userId, collectionId: id, patch }: OwnedCollectionOptions & { patch: UpdateCollectionInput },
): Promise<CollectionJson> {
  const current = await getOwnedCollection(deps.db, { userId, collectionId: id });
  if (current.status === "deleting") {
    throw new AppError("conflict", `Collection ${id} is being deleted`);
  }
  const syncMode = patch.sync_mode ?? current.sync_mode;
  const interval = patch.sync_interval_minutes ?? current.sync_interval_minutes;
  const scheduleChanged = syncMode !== current.sync_mode ||
    interval !== current.sync_interval_minutes;
  let row: CollectionRow;
  try {
    [row] = await deps.db.query<CollectionRow>(
      `update collections set
         name = $2, description = $3, sync_mode = $4, sync_interval_minutes = $5,
         next_sync_at = case
           when $4 <> 'continuous' then null
           when $6::boolean or next_sync_at is null then now() + make_interval(mins => $5)
           else next_sync_at end,
         updated_at = now()
       where id = $1 returning *`,
      [
        id,
        patch.name ?? current.name,
        patch.description ?? current.description,
        syncMode,
        interval,
        scheduleChanged,
      ],
    ) as [CollectionRow];
  } catch (err) {
    if (isUniqueViolation(err, "collections_owner_name_key")) {
      throw new AppError("conflict", `You already have a collection named ${patch.name}`);
    }
    throw err;
  }
  return await toCollectionJson(deps, row);
}
