/**
 * The document rows of a collection as indexing compares them with a scan: identity, status,
 * what the content was (hash, size, mtime) and which operation last changed the row.
 */
import type { Queryable } from "@semantik/shared";

export type DocumentStatus = "pending" | "completed" | "failed" | "skipped" | "deleted";

/** What an operation did to a document, as its completion metadata counts it. */
export type DocumentChange = "added" | "modified" | "deleted";

export interface StoredDocument {
  id: string;
  uri: string;
  sourceId: string | null;
  status: DocumentStatus;
  contentHash: string | null;
  sizeBytes: number;
  /** Modification time as the scan reported it, in ms since the epoch; null when unknown. */
  mtimeMs: number | null;
  error: string | null;
  chunkCount: number;
  /** The operation that last indexed, re-classified or deleted it. */
  indexedBy: string | null;
  lastChange: DocumentChange | null;
  /** The source's change token when it was recorded (null before Git and web sources). */
  changeToken: string | null;
}

interface Row {
  id: string;
  uri: string;
  source_id: string | null;
  status: DocumentStatus;
  content_hash: string | null;
  size_bytes: number;
  mtime: Date | null;
  error: string | null;
  chunk_count: number;
  indexed_by: string | null;
  last_change: DocumentChange | null;
  change_token: string | null;
}

/** Every document row of the collection, by uri. */
export async function loadStoredDocuments(
  db: Queryable,
  collectionId: string,
): Promise<Map<string, StoredDocument>> {
  const rows = await db.query<Row>(
    `select id, uri, source_id, status, content_hash, size_bytes, mtime, error, chunk_count,
            indexed_by, last_change, change_token
       from documents where collection_id = $1`,
    [collectionId],
  );
  return new Map(rows.map((r) => [r.uri, toStored(r)]));
}

function toStored(r: Row): StoredDocument {
  return {
    id: r.id,
    uri: r.uri,
    sourceId: r.source_id,
    status: r.status,
    contentHash: r.content_hash,
    sizeBytes: Number(r.size_bytes),
    mtimeMs: r.mtime ? r.mtime.getTime() : null,
    error: r.error,
    chunkCount: r.chunk_count,
    indexedBy: r.indexed_by,
    lastChange: r.last_change,
    changeToken: r.change_token,
  };
}
