/**
 * The one way extraction, hashing and the directory source open a document: validated at open
 * time, not only at scan time. A file swapped for a symlink (or a directory on its path swapped
 * for one) after the scan must never be read, whatever it now points at.
 */
import { isPathWithinAny } from "./_path_within.ts";
import { rawFs, RawFsError } from "./_raw_fs.ts";
import { decodeDocumentUri, encodeDocumentPath, encodeNameBytes } from "./document_uri.ts";
import { readErrorReason } from "./_read_error_reason.ts";
import { ExtractionError } from "./extraction_error.ts";
import { resolveDocumentRoots } from "./resolve_document_roots.ts";

/** The reason a document that no longer resolves inside DOCUMENT_ROOTS is skipped with. */
export const LINK_LEAVING_ROOTS = "link leaving the roots";

/** The file system calls {@link openDocument} makes, in order (tests put steps between them). */
export interface DocumentFs {
  lstat(path: string): Promise<Deno.FileInfo>;
  open(path: string, options: Deno.OpenOptions): Promise<Deno.FsFile>;
  realPath(path: string): Promise<string>;
  stat(path: string): Promise<Deno.FileInfo>;
}

const DENO_FS: DocumentFs = {
  lstat: (path) => Deno.lstat(path),
  open: (path, options) => Deno.open(path, options),
  realPath: (path) => Deno.realPath(path),
  stat: (path) => Deno.stat(path),
};

export interface OpenDocumentOptions {
  /** Checked before each step; an aborted signal throws its reason. @default {none} */
  signal?: AbortSignal;
  /** The calls to make. @default {Deno's} */
  fs?: DocumentFs;
}

/** A document opened and validated: the caller reads `file` and closes it. */
export interface OpenedDocument {
  file: Deno.FsFile;
  /** `fstat` of the open handle: what is actually read. */
  info: Deno.FileInfo;
  /** The real path, inside one of the roots (uri form for a name that is not valid UTF-8). */
  realPath: string;
}

/**
 * Opens the document at `path` (a uri as {@link scanSource} gives it: `%25` for `%`, `%XX` for a
 * byte of a name that is not valid UTF-8; see `document_uri.ts`) for reading, only if it is a regular file that is not a symbolic link and resolves
 * inside `documentRoots`, all checked against the handle actually opened:
 *
 * 1. `lstat(path)`: a symlink is refused; anything but a regular file too (opening a FIFO blocks).
 * 2. `open(path)`, then `fstat` of the handle: its device and inode must be the lstat's (the path
 *    was not swapped for a link between the two).
 * 3. `realPath(path)` must lie inside a root (no directory on the path became a link), and
 *    `stat(realPath)` must again be the opened file (nothing was swapped back meanwhile).
 *
 * A name that is not valid UTF-8 is opened through libc (`_raw_fs.ts`) relative to its opened
 * directory with O_NOFOLLOW; that directory's real path, read from the opened directory, must be
 * the one the uri names and lie inside a root.
 *
 * @throws {ExtractionError} `skipped` with {@link LINK_LEAVING_ROOTS} when a check fails,
 * `skipped` "not a regular file", `failed` when the file cannot be read; the signal's reason.
 */
export async function openDocument(
  path: string,
  documentRoots: readonly string[],
  options: OpenDocumentOptions = {},
): Promise<OpenedDocument> {
  const { signal, fs = DENO_FS } = options;
  signal?.throwIfAborted();
  const roots = await resolveDocumentRoots(documentRoots);
  let decoded;
  try {
    decoded = decodeDocumentUri(path);
  } catch (err) {
    throw new ExtractionError("skipped", (err as Error).message);
  }
  if (decoded.kind === "raw") return await openRaw(decoded.directory, decoded.name, roots);
  path = decoded.path;
  const before = await readable(() => fs.lstat(path));
  if (before.isSymlink) throw leaving();
  if (!before.isFile) throw new ExtractionError("skipped", "not a regular file");
  signal?.throwIfAborted();
  const file = await readable(() => fs.open(path, { read: true }));
  try {
    const info = await readable(() => file.stat());
    if (!sameFile(info, before)) throw leaving();
    if (!info.isFile) throw new ExtractionError("skipped", "not a regular file");
    const realPath = await readable(() => fs.realPath(path));
    if (!isPathWithinAny(realPath, roots)) throw leaving();
    const atReal = await readable(() => fs.stat(realPath));
    if (!sameFile(atReal, info)) throw leaving();
    return { file, info, realPath };
  } catch (err) {
    file.close();
    throw err;
  }
}

async function openRaw(
  directory: string,
  name: Uint8Array,
  roots: readonly string[],
): Promise<OpenedDocument> {
  const raw = rawFs();
  if (!raw) throw new ExtractionError("skipped", NON_UTF8_UNSUPPORTED);
  let opened;
  try {
    opened = await raw.open(directory, name);
  } catch (err) {
    if (err instanceof RawFsError && err.isLink) throw leaving();
    const cause = err instanceof RawFsError ? err.toDenoError() : err;
    throw new ExtractionError("failed", `cannot read file: ${readErrorReason(cause)}`, { cause });
  }
  const { info, directoryReal } = opened;
  const file = "file" in opened ? opened.file : undefined;
  if (directoryReal !== directory || !isPathWithinAny(directoryReal, roots)) {
    file?.close();
    throw leaving();
  }
  if (!file) throw new ExtractionError("skipped", "not a regular file");
  return { file, info, realPath: `${encodeDocumentPath(directoryReal)}/${encodeNameBytes(name)}` };
}

/** Why a name that is not valid UTF-8 is skipped where libc cannot be reached. */
export const NON_UTF8_UNSUPPORTED =
  "file name is not valid UTF-8, and this process cannot open such names (Deno's calls take " +
  "paths as strings; the libc fallback needs Linux and --allow-ffi)";

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  // Deno gives dev and ino on every Unix; where it does not (null), nothing can be compared and
  // the real path check carries the guard alone.
  return a.dev === b.dev && a.ino === b.ino;
}

function leaving(): ExtractionError {
  return new ExtractionError("skipped", LINK_LEAVING_ROOTS);
}

async function readable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof ExtractionError) throw err;
    throw new ExtractionError("failed", `cannot read file: ${readErrorReason(err)}`, {
      cause: err,
    });
  }
}
