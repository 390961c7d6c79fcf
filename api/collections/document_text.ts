/**
 * One document with its indexed text, and one chunk (issue 24: what an assistant reads after a
 * search, through the REST API or the MCP tools). The text is rebuilt from the document's chunks:
 * each chunk is `text.slice(start_offset, end_offset)` of the extracted text and starts and ends
 * on non-whitespace, so overlapping chunks are merged by their offsets and the whitespace between
 * two chunks that do not touch is written as one space (a newline when it was longer).
 */
import { AppError } from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import type { DocumentJson } from "./list_documents.ts";
import { getOwnedCollection } from "./owned_collection.ts";

/** Longest text a document answer carries by default, in characters. */
export const DEFAULT_DOCUMENT_MAX_CHARS = 50_000;

export interface DocumentWithTextJson extends DocumentJson {
  collection_id: string;
  /** The indexed text (or its first `max_chars` characters). */
  text: string;
  /** Whether `text` stops at `max_chars`. */
  truncated: boolean;
}

export interface ChunkJson {
  collection_id: string;
  document_id: string;
  uri: string;
  chunk_index: number;
  text: string;
  start_offset: number;
  end_offset: number;
  page: number | null;
  /** The document's chunk count, so a reader knows where this one stands. */
  chunk_count: number;
}

async function getOwnedDocument(
  deps: CollectionDeps,
  options: { userId: string; collectionId: string; documentId: string },
) {
  await getOwnedCollection(deps.db, { userId: options.userId, collectionId: options.collectionId });
  const [doc] = await deps.db.query<
    Omit<DocumentJson, "updated_at"> & { updated_at: Date }
  >(
    `select id, source_id, uri, content_hash, size_bytes, mime_type, status, chunk_count, error,
            updated_at
       from documents where id = $1 and collection_id = $2`,
    [options.documentId, options.collectionId],
  );
  if (!doc) {
    throw new AppError(
      "not_found",
      `Document ${options.documentId} is not in collection ${options.collectionId}`,
    );
  }
  return { ...doc, updated_at: doc.updated_at.toISOString() };
}

/** The document (of the caller's collection) with its indexed text. */
export async function getDocumentText(
  deps: CollectionDeps,
  options: { userId: string; collectionId: string; documentId: string; maxChars?: number },
): Promise<DocumentWithTextJson> {
  const { maxChars = DEFAULT_DOCUMENT_MAX_CHARS } = options;
  const doc = await getOwnedDocument(deps, options);
  const chunks = await deps.db.query<{ text: string; start_offset: number; end_offset: number }>(
    `select text, start_offset, end_offset from chunks
      where collection_id = $1 and document_id = $2 order by ordinal`,
    [options.collectionId, options.documentId],
  );
  const { text, truncated } = mergeChunks(chunks, maxChars);
  return { ...doc, collection_id: options.collectionId, text, truncated };
}

/**
 * The text chunks cover, merged by their offsets (into the whole extracted text, also for the
 * windows of a huge file), up to `maxChars` characters. Chunks come in order.
 */
export function mergeChunks(
  chunks: readonly { text: string; start_offset: number; end_offset: number }[],
  maxChars: number,
): { text: string; truncated: boolean } {
  let out = "";
  let end = -1;
  for (const c of chunks) {
    if (out.length >= maxChars) break;
    if (end < 0) {
      out = c.text;
    } else if (c.start_offset >= end) {
      out += (c.start_offset - end > 1 ? "\n" : " ") + c.text;
    } else if (c.end_offset > end) {
      out += c.text.slice(end - c.start_offset);
    } else {
      continue; // inside what is already there
    }
    end = Math.max(end, c.end_offset);
  }
  return out.length > maxChars
    ? { text: out.slice(0, maxChars), truncated: true }
    : { text: out, truncated: false };
}

/** One chunk of a document of the caller's collection, by its position (`chunk_index`). */
export async function getChunk(
  deps: CollectionDeps,
  options: { userId: string; collectionId: string; documentId: string; chunkIndex: number },
): Promise<ChunkJson> {
  const doc = await getOwnedDocument(deps, options);
  const [chunk] = await deps.db.query<
    { text: string; start_offset: number; end_offset: number; page: number | null }
  >(
    `select text, start_offset, end_offset, page from chunks
      where collection_id = $1 and document_id = $2 and ordinal = $3`,
    [options.collectionId, options.documentId, options.chunkIndex],
  );
  if (!chunk) {
    throw new AppError(
      "not_found",
      `Document ${options.documentId} has no chunk ${options.chunkIndex} (it has ${doc.chunk_count})`,
    );
  }
  return {
    collection_id: options.collectionId,
    document_id: doc.id,
    uri: doc.uri,
    chunk_index: options.chunkIndex,
    ...chunk,
    chunk_count: doc.chunk_count,
  };
}
