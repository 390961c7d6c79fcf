/**
 * Extraction of one file from disk: the only I/O of the extraction library besides
 * {@link hashFile}. The file is read once; its hash and its text come from the same bytes.
 */
import { extractBytes, type ExtractBytesOptions, type ExtractedDocument } from "./extract_bytes.ts";
import { ExtractionError } from "./extraction_error.ts";
import { readErrorReason } from "./_read_error_reason.ts";
import { type DocumentFs, openDocument } from "./open_document.ts";

export interface ExtractFileOptions extends Omit<ExtractBytesOptions, "path"> {
  /** DOCUMENT_ROOTS: the file must resolve inside one of them when it is opened. */
  documentRoots: readonly string[];
  /** The calls {@link openDocument} makes. @default {Deno's} */
  fs?: DocumentFs;
  /**
   * Larger files are skipped without being read (MAX_FILE_SIZE_MB in bytes).
   * @default {52428800} (50 MiB)
   */
  maxBytes?: number;
}

const READ_CHUNK = 256 * 1024;

/**
 * Reads and extracts the file at `path` (see {@link extractBytes} for the formats).
 *
 * The file is opened through {@link openDocument}: a symlink, or a path that no longer resolves
 * inside `documentRoots`, is never read.
 *
 * @throws {ExtractionError} `skipped` for an empty, too large, binary or text-less file, one
 * that is not a regular file (a FIFO would block the reader), or "link leaving the roots"; `failed` when it cannot be read
 * (missing, permission denied) or is a corrupt or hostile PDF or DOCX. An aborted `signal`
 * throws its reason.
 */
export async function extractFile(
  path: string,
  options: ExtractFileOptions,
): Promise<ExtractedDocument> {
  const { maxBytes = 50 * 1024 * 1024, signal, documentRoots, fs, ...rest } = options;
  if (!(maxBytes >= 0)) {
    throw new RangeError(`Cannot extract file: maxBytes must not be negative, got ${maxBytes}`);
  }
  signal?.throwIfAborted();
  const bytes = await readFileBounded(path, documentRoots, maxBytes, signal, fs);
  return await extractBytes(bytes, { ...rest, path, signal });
}

async function readFileBounded(
  path: string,
  documentRoots: readonly string[],
  maxBytes: number,
  signal: AbortSignal | undefined,
  fs: DocumentFs | undefined,
): Promise<Uint8Array> {
  const { file, info } = await openDocument(path, documentRoots, { signal, fs });
  try {
    if (info.size > maxBytes) throw tooLarge(info.size, maxBytes);
    // One buffer of the measured size and a byte more: a file that did not change is read into
    // it whole, and the byte left over shows where it ended (a 256 KiB buffer per read, as
    // before, zeroed half a MiB per small file and kept 256 KiB alive behind each one's bytes).
    // A file that grew since it was measured goes on in READ_CHUNK pieces, up to maxBytes.
    const chunks: Uint8Array[] = [];
    let buffer = new Uint8Array(info.size + 1);
    let filled = 0;
    let total = 0;
    while (true) {
      signal?.throwIfAborted();
      if (filled === buffer.length) {
        chunks.push(buffer);
        buffer = new Uint8Array(READ_CHUNK);
        filled = 0;
      }
      const read = await fileOperation(() => file.read(buffer.subarray(filled)));
      if (read === null) break;
      filled += read;
      total += read;
      if (total > maxBytes) throw tooLarge(total, maxBytes);
    }
    chunks.push(buffer.subarray(0, filled));
    if (chunks.length === 1) return chunks[0]!;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return bytes;
  } finally {
    file.close();
  }
}

async function fileOperation<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
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
