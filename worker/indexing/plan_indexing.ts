/**
 * What an indexing or sync operation has to do, from what its scans found and what the
 * collection's document rows say: which files to extract and embed, which to leave alone, which
 * scan problems to record, which documents are gone. Pure: no I/O.
 *
 * Each entry carries the source's change token (equal tokens mean equal bytes). A Git blob id or
 * a web page's content hash decides alone: same token, unchanged without being opened. A file's
 * token is its size and modification time, only a prefilter: when either differs, the content
 * hash decides (the file is hashed before it is extracted, see `verifyHash`), so a `touch`
 * re-embeds nothing.
 */
import type { SourceEntry, SourceFile, SourceProblem } from "@semantik/shared";
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
  /** The source's change token for what is recorded now (null: none, e.g. a problem entry). */
  changeToken?: string | null;
}

export type PlanItem =
  /** Extract, chunk, embed and record; with `verifyHash`, first compare the file's hash. */
  | { kind: "index"; ref: DocumentRef; file: SourceFile; verifyHash: string | null }
  /** The scan already decided: record the problem (skipped or failed). */
  | { kind: "problem"; ref: DocumentRef; problem: SourceProblem }
  /** Nothing to do; the document keeps `status`. */
  | { kind: "unchanged"; ref: DocumentRef; status: DocumentStatus };

export interface IndexingPlan {
  /** One item per distinct scanned document, in scan order. */
  items: PlanItem[];
  /** Documents of the scanned sources that the scans no longer found. */
  deleted: DocumentRef[];
}

/** The entries of one listed source. */
export interface ScannedSource {
  sourceId: string;
  entries: readonly SourceEntry[];
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
  /**
   * Files indexed again even when their size and mtime (or hash) say unchanged (a retry).
   * @default {undefined: none}
   */
  reindexUris?: ReadonlySet<string>;
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
        ref.changeToken = entry.changeToken;
        items.push(
          options.reindexUris?.has(entry.uri)
            ? { kind: "index", ref, file: entry, verifyHash: null }
            : planFile(ref, entry, s),
        );
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

/** A file's token (size and mtime) only prefilters; other tokens name the content. */
const isStatToken = (token: string) => token.startsWith("stat:");

function planFile(ref: DocumentRef, file: SourceFile, s: StoredDocument | undefined): PlanItem {
  const stat = isStatToken(file.changeToken);
  if (s && (s.status === "completed" || s.status === "skipped")) {
    if (
      stat
        ? s.sizeBytes === file.size && s.mtimeMs === file.mtimeMs
        : s.changeToken === file.changeToken
    ) {
      return { kind: "unchanged", ref, status: s.status };
    }
  }
  const verifyHash = stat && s?.status === "completed" ? s.contentHash : null;
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
