/**
 * Today's directory source behind the {@link DocumentSource} interface: `list()` is a scan
 * (`scanSource`, DOCUMENT_ROOTS and globs as before), `open()` reads the file through
 * `openDocument`, which checks again at open time, against the opened handle, that it is no link
 * and still resolves inside DOCUMENT_ROOTS (a file swapped for a symlink since the scan must not
 * be read).
 */
import { ExtractionError } from "../extraction/extraction_error.ts";
import { readErrorReason } from "../extraction/_read_error_reason.ts";
import { openDocument } from "../extraction/open_document.ts";
import { scanSource, type ScanSourceSpec } from "../extraction/scan_source.ts";
import type {
  DocumentSource,
  EntryRef,
  ListSourceOptions,
  OpenEntryOptions,
  SourceEntry,
  SourceListing,
} from "./document_source.ts";
import { readBounded } from "./_read_bounded.ts";

export interface DirectorySourceOptions {
  /** DOCUMENT_ROOTS: the source and every file read must resolve inside one of them. */
  documentRoots: readonly string[];
  /** MAX_FILE_SIZE_MB in bytes: larger files are listed as skipped. */
  maxFileSizeBytes: number;
  /** Take names starting with a dot. @default {false} */
  includeHidden?: boolean;
}

/** The change token of a directory entry: size and modification time. */
export function statChangeToken(size: number, mtimeMs: number): string {
  return `stat:${size}:${mtimeMs}`;
}

export class DirectorySource implements DocumentSource {
  readonly type = "directory";
  readonly #spec: ScanSourceSpec;
  readonly #options: DirectorySourceOptions;

  constructor(spec: ScanSourceSpec, options: DirectorySourceOptions) {
    this.#spec = spec;
    this.#options = options;
  }

  /** @throws {AppError} `path_not_allowed` when the source path is not allowed. */
  async list(options: ListSourceOptions = {}): Promise<SourceListing> {
    const { signal, onProgress } = options;
    const entries: SourceEntry[] = [];
    for await (
      const e of scanSource(this.#spec, {
        documentRoots: this.#options.documentRoots,
        maxFileSizeBytes: this.#options.maxFileSizeBytes,
        includeHidden: this.#options.includeHidden,
        signal,
      })
    ) {
      entries.push(
        e.kind === "file"
          ? {
            ...e,
            changeToken: statChangeToken(e.size, e.mtimeMs),
            mtimeMs: e.mtimeMs,
            mimeType: null,
          }
          : e,
      );
      if (entries.length % 1000 === 0) onProgress?.(`Scanned ${entries.length} files`);
    }
    return { entries, stats: { files: entries.length } };
  }

  async open(entry: EntryRef, options: OpenEntryOptions): Promise<Uint8Array> {
    const { maxBytes, signal } = options;
    signal?.throwIfAborted();
    const { file, info } = await openDocument(entry.uri, this.#options.documentRoots, { signal });
    if (info.size > maxBytes) {
      file.close();
      throw tooLarge(info.size, maxBytes);
    }
    const bytes = await readable(() => readBounded(file.readable, maxBytes, { signal }));
    // The file may have grown since it was measured.
    if (bytes === undefined) throw tooLarge(maxBytes + 1, maxBytes);
    return bytes;
  }

  async close(): Promise<void> {}
}

async function readable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof ExtractionError) throw err;
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ExtractionError("failed", `cannot read file: ${readErrorReason(err)}`, {
      cause: err,
    });
  }
}

function tooLarge(size: number, maxBytes: number): ExtractionError {
  return new ExtractionError(
    "skipped",
    `file is larger than the ${maxBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
  );
}
