/**
 * A source of documents, whatever holds them: a directory, a Git repository, a web site. Indexing
 * and sync see only this: `list()` says what the source holds now, each entry with a change
 * token; `open()` gives one entry's bytes. Sync compares tokens with the stored ones and opens
 * only the entries whose token differs, so unchanged documents cost nothing.
 *
 * A source keeps whatever local copy it needs under the directory it is given (a Git clone, the
 * crawled pages): `list()` first brings that copy up to date (fetch, crawl) and `open()` reads
 * from it, so what is extracted is exactly what was listed. A process that lacks the copy (another
 * worker) makes it on its first `list()`.
 */
import type { ScanProblem } from "../extraction/scan_source.ts";

export type SourceType = "directory" | "git" | "web";

/** A document the source holds. */
export interface SourceFile {
  kind: "file";
  /**
   * The document's identity, naming the source exactly: the absolute real path (directory),
   * `<repo url>@<ref>:<path>` (Git), the canonical page URL (web).
   */
  uri: string;
  /**
   * Where it lies in the source, `/`-separated and relative to the source's root (the Git
   * worktree, the start URL's path prefix): what include and exclude globs match.
   */
  path: string;
  /**
   * Equal tokens mean equal bytes: `stat:<size>:<mtimeMs>` (directory; a differing token is
   * confirmed by the content hash before re-embedding), `git:<blob id>`, `sha256:<hex>` (web).
   */
  changeToken: string;
  /** Bytes. */
  size: number;
  /** Modification time in ms since the epoch, when the source knows one. */
  mtimeMs: number | null;
  /** The type the source declares (a web page's Content-Type); null: content and extension decide. */
  mimeType: string | null;
}

/**
 * An entry the source reports but that is not extracted: `skipped` (too large, not a document,
 * a link leaving the roots) or `failed` (unreadable, a server error). Same shape as a directory
 * scan's problems.
 */
export type SourceProblem = ScanProblem;

export type SourceEntry = SourceFile | SourceProblem;

/** What {@link DocumentSource.list} found. */
export interface SourceListing {
  /** One entry per document, in a stable order; uris are unique. */
  entries: SourceEntry[];
  /** What was listed, to record with the operation: the commit id (Git); absent otherwise. */
  revision?: string;
  /** The ref listed (Git: the remote's default branch when the source names none). */
  ref?: string;
  /** Counters for logs and operation metadata (requests made, conditional hits...). */
  stats: Record<string, number>;
}

export interface ListSourceOptions {
  /** Aborts between steps; the signal's reason is thrown. */
  signal?: AbortSignal;
  /** Called now and then with a line of progress ("Fetched 120 pages"). @default {none} */
  onProgress?: (message: string) => void;
}

/** What {@link DocumentSource.open} needs of an entry: a listed one or a stored document's. */
export interface EntryRef {
  uri: string;
  path: string;
  changeToken: string;
}

export interface OpenEntryOptions {
  /** Larger entries are refused (`ExtractionError` `skipped`) without being read whole. */
  maxBytes: number;
  /** Aborts the read; the signal's reason is thrown. */
  signal?: AbortSignal;
}

export interface DocumentSource {
  readonly type: SourceType;
  /**
   * Brings the local copy up to date and lists what the source holds.
   *
   * @throws {SourceError} when the source as a whole cannot be listed (unreachable, refused
   * credentials, not allowed): never an empty listing, so an outage never reads as "everything
   * was deleted". A single entry's trouble is a {@link SourceProblem} entry instead.
   */
  list(options?: ListSourceOptions): Promise<SourceListing>;
  /**
   * The bytes of an entry of the last listing (or of a stored document with the same token).
   *
   * @throws {ExtractionError} `skipped` when larger than `maxBytes`; `failed` when it cannot be
   * read or is no longer in the local copy (the token names content the source no longer has).
   */
  open(entry: EntryRef, options: OpenEntryOptions): Promise<Uint8Array>;
  /** Releases processes and connections; the local copy stays. Safe to call twice. */
  close(): Promise<void>;
}

/** How a new listing differs from what was stored, by uri and change token. */
export interface EntryChanges {
  added: string[];
  modified: string[];
  deleted: string[];
  unchanged: string[];
}

/**
 * Compares a listing with the tokens stored before (uri -> token): the rule sync applies. A
 * renamed file is a new uri, so it is one deletion and one addition. Problems count as present
 * (their rows are kept, marked skipped or failed), with no token to compare.
 */
export function diffEntries(
  stored: ReadonlyMap<string, string | null>,
  entries: readonly SourceEntry[],
): EntryChanges {
  const changes: EntryChanges = { added: [], modified: [], deleted: [], unchanged: [] };
  const seen = new Set<string>();
  for (const e of entries) {
    seen.add(e.uri);
    if (!stored.has(e.uri)) changes.added.push(e.uri);
    else if (e.kind === "file" && stored.get(e.uri) === e.changeToken) {
      changes.unchanged.push(e.uri);
    } else changes.modified.push(e.uri);
  }
  for (const uri of stored.keys()) if (!seen.has(uri)) changes.deleted.push(uri);
  return changes;
}
