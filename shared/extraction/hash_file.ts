/**
 * The content hash sync compares with the stored one, streamed so a large file costs no memory.
 */
import { createHash } from "node:crypto";

export interface HashFileOptions {
  /** Aborts between reads; the signal's reason is thrown. */
  signal?: AbortSignal;
}

const CHUNK = 256 * 1024;

/**
 * SHA-256 (lower-case hex) of the file's bytes: the same value as
 * {@link ExtractedDocument.contentHash} for the same bytes.
 *
 * @throws the `Deno.errors` error of a failed stat, open or read (NotFound, PermissionDenied,
 * ...), or `Deno.errors.InvalidData` when `path` is not a regular file.
 */
export async function hashFile(path: string, options: HashFileOptions = {}): Promise<string> {
  const { signal } = options;
  signal?.throwIfAborted();
  // Opening a FIFO for reading would block until a writer comes.
  if (!(await Deno.stat(path)).isFile) {
    throw new Deno.errors.InvalidData(`Cannot hash file: not a regular file: ${path}`);
  }
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(CHUNK);
  while (true) {
    signal?.throwIfAborted();
    const read = await file.read(buffer);
    if (read === null) break;
    hash.update(buffer.subarray(0, read));
  }
  return hash.digest("hex");
}
