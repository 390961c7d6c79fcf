/** A collection's documents, newest first, a page at a time. */
import { keysetPage } from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { getOwnedCollection, type OwnedCollectionOptions } from "./owned_collection.ts";

export interface DocumentJson {
  id: string;
  source_id: string | null;
  uri: string;
  content_hash: string | null;
  size_bytes: number;
  mime_type: string | null;
  status: "pending" | "completed" | "failed" | "skipped" | "deleted";
  chunk_count: number;
  error: string | null;
  updated_at: string;
}

export async function listDocuments(
  deps: CollectionDeps,
  options: OwnedCollectionOptions & {
    status?: DocumentJson["status"];
    limit: number;
    cursor?: string;
  },
): Promise<{ documents: DocumentJson[]; next_cursor: string | null }> {
  const { userId, collectionId: id } = options;
  await getOwnedCollection(deps.db, { userId, collectionId: id });
  const params: unknown[] = [id];
  const where = ["collection_id = $1"];
  if (options.status) {
    params.push(options.status);
    where.push(`status = $${params.length}`);
  }
  const page = await keysetPage<
    Omit<DocumentJson, "updated_at"> & { created_at: Date; updated_at: Date }
  >(deps.db, {
    from: "documents",
    columns: `id, source_id, uri, content_hash, size_bytes, mime_type, status, chunk_count, error,
              created_at, updated_at`,
    where,
    params,
    limit: options.limit,
    cursor: options.cursor,
  });
  return {
    documents: page.items.map(({ created_at: _c, updated_at, ...d }) => ({
      ...d,
      updated_at: updated_at.toISOString(),
    })),
    next_cursor: page.nextCursor,
  };
}
