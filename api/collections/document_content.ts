/**
 * A document's text as it was indexed, with where each chunk lies in it.
 *
 * Postgres keeps each chunk's text and its offsets (UTF-16 code units, end exclusive) into the
 * extracted text, and chunks cover all of the text but whitespace (see `chunk_document.ts`). The
 * text is re-extracted from the file with the indexer's extractor when the file still has the
 * indexed content hash and every stored chunk equals its slice of it (`text_source:
 * "extracted"`: exactly the text that was chunked). Otherwise (file changed or gone) it is
 * rebuilt from the chunks: each chunk's text at its offsets, the whitespace between chunks (never
 * stored) as spaces, a newline where the gap held one cannot be known (`text_source: "chunks"`).
 * Either way `text.slice(start, end)` is each chunk's stored text.
 */
import { AppError, extractFile } from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import type { DocumentJson } from "./list_documents.ts";
import { getOwnedCollection } from "./owned_collection.ts";

export interface DocumentContentJson {
  document: DocumentJson;
  text: string;
  /** `extracted` (re-extracted, verified against the chunks) or `chunks` (rebuilt from them). */
  text_source: "extracted" | "chunks";
  chunks: { index: number; start: number; end: number; page: number | null }[];
}

interface ChunkRow {
  ordinal: number;
  text: string;
  start_offset: number;
  end_offset: number;
  page: number | null;
}

/** Builds the text from stored chunks: each at its offsets, the gaps as spaces. */
export function textFromChunks(chunks: readonly ChunkRow[]): string {
  const length = chunks.reduce((m, c) => Math.max(m, c.end_offset), 0);
  const out = new Array<string>(length).fill(" ");
  for (const c of chunks) {
    for (let i = 0; i < c.text.length && c.start_offset + i < length; i++) {
      out[c.start_offset + i] = c.text[i]!;
    }
  }
  return out.join("");
}

const matches = (text: string, chunks: readonly ChunkRow[]) =>
  chunks.every((c) => text.slice(c.start_offset, c.end_offset) === c.text);

export async function getDocumentContent(
  deps: CollectionDeps,
  userId: string,
  options: { collectionId: string; documentId: string },
): Promise<DocumentContentJson> {
  const { collectionId, documentId } = options;
  await getOwnedCollection(deps.db, { userId, collectionId });
  const [doc] = await deps.db.query<Omit<DocumentJson, "updated_at"> & { updated_at: Date }>(
    `select id, source_id, uri, content_hash, size_bytes, mime_type, status, chunk_count, error,
            updated_at
       from documents where id = $1 and collection_id = $2`,
    [documentId, collectionId],
  );
  if (!doc) {
    throw new AppError(
      "not_found",
      `Document ${documentId} does not exist in collection ${collectionId}`,
    );
  }
  const chunks = await deps.db.query<ChunkRow>(
    `select ordinal, text, start_offset, end_offset, page from chunks
      where collection_id = $1 and document_id = $2 order by ordinal`,
    [collectionId, documentId],
  );
  let text: string | undefined;
  if (chunks.length > 0 && doc.content_hash) {
    try {
      const extracted = await extractFile(doc.uri, {
        documentRoots: deps.documentRoots,
        maxBytes: deps.maxFileSizeBytes,
      });
      if (extracted.contentHash === doc.content_hash && matches(extracted.text, chunks)) {
        text = extracted.text;
      }
    } catch (err) {
      deps.log?.debug("document not re-extracted; its text is rebuilt from its chunks", {
        document_id: documentId,
        err,
      });
    }
  }
  return {
    document: { ...doc, updated_at: doc.updated_at.toISOString() },
    text: text ?? textFromChunks(chunks),
    text_source: text === undefined ? "chunks" : "extracted",
    chunks: chunks.map((c) => ({
      index: c.ordinal,
      start: c.start_offset,
      end: c.end_offset,
      page: c.page,
    })),
  };
}
