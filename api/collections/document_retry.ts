/**
 * Retrying documents: an `index` operation whose config names the documents
 * (`{trigger: "user", retry: true, document_ids}`); its worker scans the collection's sources and
 * indexes just those documents again, even when their files look unchanged. One document: any
 * status but `deleted`. Every failed document: 409 `conflict` when there is none. A collection
 * with another active operation is 409 as for every write operation.
 */
import { AppError, type OperationJson, toOperationJson } from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { startOperation } from "./collection_operations.ts";
import { getOwnedCollection, type OwnedCollectionOptions } from "./owned_collection.ts";

/** Re-indexes one document of an owned collection (404 when either is missing or not theirs). */
export async function retryDocument(
  deps: CollectionDeps,
  userId: string,
  options: { collectionId: string; documentId: string },
): Promise<OperationJson> {
  const { collectionId, documentId } = options;
  await getOwnedCollection(deps.db, { userId, collectionId });
  const op = await startOperation(deps, {
    userId,
    collectionId,
    type: "index",
    prepare: async (tx) => {
      const [d] = await tx.query<{ id: string; status: string }>(
        "select id, status from documents where id = $1 and collection_id = $2",
        [documentId, collectionId],
      );
      if (!d) {
        throw new AppError(
          "not_found",
          `Document ${documentId} does not exist in collection ${collectionId}`,
        );
      }
      if (d.status === "deleted") {
        throw new AppError(
          "conflict",
          `Cannot retry document ${documentId}: it was deleted from its source`,
        );
      }
      return { trigger: "user", retry: true, document_ids: [documentId] };
    },
  });
  return toOperationJson(op);
}

/** Re-indexes every `failed` document of an owned collection (409 when there is none). */
export async function retryFailedDocuments(
  deps: CollectionDeps,
  { userId, collectionId }: OwnedCollectionOptions,
): Promise<OperationJson> {
  await getOwnedCollection(deps.db, { userId, collectionId });
  const op = await startOperation(deps, {
    userId,
    collectionId,
    type: "index",
    prepare: async (tx) => {
      const rows = await tx.query<{ id: string }>(
        "select id from documents where collection_id = $1 and status = 'failed' order by uri",
        [collectionId],
      );
      if (rows.length === 0) {
        throw new AppError(
          "conflict",
          `Collection ${collectionId} has no failed documents to retry`,
        );
      }
      return { trigger: "user", retry: true, document_ids: rows.map((r) => r.id) };
    },
  });
  return toOperationJson(op);
}
