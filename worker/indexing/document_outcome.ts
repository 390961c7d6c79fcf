/**
 * What became of one document in an indexing run, as the pipeline hands it to an
 * {@link IndexSink} once its points (if any) are written.
 */
import type { DocumentRef } from "./plan_indexing.ts";

/** A chunk row: the point id, where it lies in the document's text, and its text. */
export interface ChunkRecord {
  /** The chunk id, which is also its point id. */
  id: string;
  ordinal: number;
  text: string;
  startOffset: number;
  endOffset: number;
  page: number | null;
  tokenCount: number;
}

export type DocumentOutcome =
  /** Extracted, chunked, embedded and upserted. */
  | {
    kind: "completed";
    ref: DocumentRef;
    contentHash: string;
    sizeBytes: number;
    mtimeMs: number | null;
    mimeType: string;
    chunks: ChunkRecord[];
  }
  /** Not indexed; `reason` says why (docs/API.md: failed = unreadable, skipped = deliberately). */
  | {
    kind: "failed" | "skipped";
    ref: DocumentRef;
    reason: string;
    sizeBytes: number;
    mtimeMs: number | null;
    mimeType: string | null;
  }
  /** Size or mtime changed but the content hash did not: nothing is re-embedded. */
  | { kind: "touched"; ref: DocumentRef; sizeBytes: number; mtimeMs: number | null }
  /** The file is gone (or a pending row of an interrupted run is dropped). */
  | { kind: "deleted"; ref: DocumentRef };

/** Whether an outcome changes what the row says (status, error or content). */
export function changesState(o: DocumentOutcome): boolean {
  const s = o.ref.stored;
  switch (o.kind) {
    case "completed":
      return true;
    case "failed":
    case "skipped":
      return !s || s.status !== o.kind || s.error !== o.reason;
    case "touched":
      return false;
    case "deleted":
      return !s || s.status !== "deleted";
  }
}
