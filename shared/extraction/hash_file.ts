/**
 * The content hash sync compares with the stored one, streamed so a large file costs no memory.
 */
import { createHash } from "node:crypto";
import { openDocument } from "./open_document.ts";

export interface HashFileOptions {
  /** DOCUMENT_ROOTS: the file must resolve inside one of them when it is opened. */
  documentRoots: readonly string[];
  /** Aborts between reads; the signal's reason is thrown. */
  signal?: AbortSignal;
}

const CHUNK = 256 * 1024;

/**
 * SHA-256 (lower-case hex) of the file's bytes: the same value as
 * {@link ExtractedDocument.contentHash} for the same bytes.
 *
 * The file is opened through {@link openDocument}, so a link is never followed out of the roots.
 *
 * @throws {ExtractionError} as {@link openDocument} does (`skipped` for a link leaving the roots
 * or what is not a regular file, `failed` when it cannot be opened); a failed read's error.
 */
export async function hashFile(path: string, options: HashFileOptions): Promise<string> {
  const { signal, documentRoots } = options;
  signal?.throwIfAborted();
  const hash = createHash("sha256");
  using file = (await openDocument(path, documentRoots, { signal })).file;
  const buffer = new Uint8Array(CHUNK);
  while (true) {
    signal?.throwIfAborted();
    const read = await file.read(buffer);
    if (read === null) break;
    hash.update(buffer.subarray(0, read));
  }
  return hash.digest("hex");
}
