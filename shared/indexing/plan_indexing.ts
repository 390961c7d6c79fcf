/**
 * What an indexing or sync operation has to do, from what its scans found and what the
 * collection's document rows say: which files to extract and embed, which to leave alone, which
 * scan problems to record, which documents are gone. Pure: no I/O.
 *
 * Size and modification time are the prefilter: a completed document whose file has the same of
 * both is unchanged without being read. When either differs, the content hash decides (the file
 * is hashed before it is extracted, see `verifyHash`), so a `touch` re-embeds nothing.
 */
import type { ScanEntry, ScannedFile, ScanProblem } from "../extraction/scan_source.ts";
import { documentIdFor } from "./ids.ts";
import type { DocumentChange, DocumentStatus, StoredDocument } from "./stored_documents.ts";

/** A document as the pipeline and the recorder handle it. */
export interface DocumentRef {
  id: string;
  uri: string;
  sourceId: string | null;
  /**
   * What the operation reports for it when its state changes; null: nothing (e.g. a row that
   * only ever was pending).
   */
  change: DocumentChange | null;
  /** Points of it may exist already, so they are deleted before new ones are written. */
  mayHavePoints: boolean;
  /** No row exists yet: a `pending` one is written before any of its points. */
  isNew: boolean;
  /** The row before this operation (undefined for a new document). */
  stored?: StoredDocument;
}

export type PlanItem =
  /** Extract, chunk, embed and record; with `verifyHash`, first compare the file's hash. */
  | { kind: "index"; ref: DocumentRef; file: ScannedFile; verifyHash: string | null }
  /** The scan already decided: record the problem (skipped or failed). */
  | { kind: "problem"; ref: DocumentRef; problem: ScanProblem }
  /** Nothing to do; the document keeps `status`. */
  | { kind: "unchanged"; ref: DocumentRef; status: DocumentStatus };

export interface IndexingPlan {
  /** One item per distinct scanned document, in scan order. */
  items: PlanItem[];
  /** Documents of the scanned sources that the scans no longer found. */
  deleted: DocumentRef[];
}

/** The entries of one scanned source. */
export interface ScannedSource {
  sourceId: string;
  entries: readonly ScanEntry[];
}

export interface PlanIndexingOptions {
  /** The operation planning; its own earlier attempts' classifications are kept. */
  operationId: string;
  collectionId: string;
  /**
   * Treat documents of the scanned sources that no scan found as deleted (sync). Otherwise only
   * rows left `pending` by an interrupted operation are cleaned up. @default {false}
   */
  deleteMissing?: boolean;
}

/** Compares scans with stored rows (by uri) and says what to do with each document. */
export function planIndexing(
  sources: readonly ScannedSource[],
  stored: ReadonlyMap<string, StoredDocument>,
  options: PlanIndexingOptions,
): IndexingPlan {
  const { operationId, collectionId, deleteMissing = false } = options;
  const seen = new Set<string>();
  const items: PlanItem[] = [];
  const changeFor = (s: StoredDocument | undefined, planned: DocumentChange): DocumentChange => {
    // A resumed operation keeps what its earlier attempt said (an `added` file stays added).
    if (s && s.indexedBy === operationId && s.lastChange) return s.lastChange;
    return planned;
  };
  const refFor = (uri: string, sourceId: string): DocumentRef => {
    const s = stored.get(uri);
    const gone = !s || s.status === "deleted";
    return {
      id: s?.id ?? documentIdFor(collectionId, uri),
      uri,
      sourceId: s?.sourceId ?? sourceId,
      change: gone ? "added" : changeFor(s, s.status === "pending" ? "added" : "modified"),
      mayHavePoints: s !== undefined,
      isNew: s === undefined,
      stored: s,
    };
  };

  for (const source of sources) {
    for (const entry of source.entries) {
      // Two sources (or two links) can reach one file: it is one document, planned once.
      if (seen.has(entry.uri)) continue;
      seen.add(entry.uri);
      const ref = refFor(entry.uri, source.sourceId);
      const s = ref.stored;
      if (entry.kind === "file") {
        items.push(planFile(ref, entry, s));
      } else if (s && s.status === entry.kind && s.error === entry.reason) {
        items.push({ kind: "unchanged", ref, status: s.status });
      } else {
        items.push({ kind: "problem", ref, problem: entry });
      }
    }
  }

  const scanned = new Set(sources.map((s) => s.sourceId));
  const deleted: DocumentRef[] = [];
  for (const s of stored.values()) {
    if (seen.has(s.uri) || s.status === "deleted") continue;
    if (s.sourceId === null || !scanned.has(s.sourceId)) continue;
    // A pending row was never indexed: removing it is housekeeping, not a deletion to report.
    if (s.status === "pending") {
      deleted.push({ ...refOf(s), change: null });
    } else if (deleteMissing) {
      deleted.push({ ...refOf(s), change: "deleted" });
    }
  }
  return { items, deleted };
}

function planFile(ref: DocumentRef, file: ScannedFile, s: StoredDocument | undefined): PlanItem {
  if (s && (s.status === "completed" || s.status === "skipped")) {
    if (s.sizeBytes === file.size && s.mtimeMs === file.mtimeMs) {
      return { kind: "unchanged", ref, status: s.status };
    }
  }
  const verifyHash = s?.status === "completed" ? s.contentHash : null;
  return { kind: "index", ref, file, verifyHash };
}

function refOf(s: StoredDocument): DocumentRef {
  return {
    id: s.id,
    uri: s.uri,
    sourceId: s.sourceId,
    change: null,
    mayHavePoints: true,
    isNew: false,
    stored: s,
  };
}
