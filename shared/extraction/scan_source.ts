/**
 * The list of documents of a directory source: what indexing extracts and what sync compares
 * with the stored documents. Scanning stats files but never opens them (except a file whose name
 * is not valid UTF-8, which can only be measured once opened: without following a link, and
 * without waiting on a FIFO).
 */
import { join } from "node:path";
import { isPathWithinAny } from "./_path_within.ts";
import { rawFs, RawFsError } from "./_raw_fs.ts";
import { encodeDocumentPath, encodeNameBytes, isValidUtf8 } from "./document_uri.ts";
import { NON_UTF8_UNSUPPORTED } from "./open_document.ts";
import { createPathFilter } from "./path_filter.ts";
import { resolveDocumentRoots } from "./resolve_document_roots.ts";
import { resolveSourcePath } from "./resolve_source_path.ts";
import { readErrorReason } from "./_read_error_reason.ts";

/** A directory source as docs/API.md's `Source` describes it. */
export interface ScanSourceSpec {
  /** Absolute path of the source directory. */
  path: string;
  /** Globs relative to the source root (see {@link createPathFilter}). @default {[]} (all) */
  include?: readonly string[];
  /** Globs relative to the source root; exclude wins. @default {[]} */
  exclude?: readonly string[];
}

export interface ScanSourceOptions {
  /** DOCUMENT_ROOTS: the source and every symlink target must lie inside one of them. */
  documentRoots: readonly string[];
  /** MAX_FILE_SIZE_MB in bytes: larger files are reported as skipped. */
  maxFileSizeBytes: number;
  /**
   * Take files and directories whose name starts with a dot.
   * @default {false}
   */
  includeHidden?: boolean;
  /** Checked before each entry; an aborted scan throws the signal's reason. */
  signal?: AbortSignal;
}

/** A document to extract. */
export interface ScannedFile {
  kind: "file";
  /**
   * Absolute real path, in uri form (`%` as `%25`, a byte of a name that is not valid UTF-8 as
   * `%XX`: see `document_uri.ts`): the document's identity, and what the openers take.
   */
  uri: string;
  /**
   * Path relative to the source root as walked (through symlinks), `/`-separated; a name that
   * is not valid UTF-8 in uri form.
   */
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * A file the scan reports but that is not extracted: `skipped` (too large, not a regular file,
 * a symlink leading outside DOCUMENT_ROOTS) or `failed` (vanished, unreadable directory, broken
 * symlink). `uri` is the real path where it can be known; for a symlink that is broken or leads
 * outside the roots it is the link's own absolute path, so the target is never disclosed.
 */
export interface ScanProblem {
  kind: "skipped" | "failed";
  uri: string;
  path: string;
  reason: string;
  size?: number;
  mtimeMs?: number;
}

export type ScanEntry = ScannedFile | ScanProblem;

/** A directory entry whose name is not valid UTF-8 (read through libc). */
interface RawName {
  bytes: Uint8Array;
  /** The name in uri form. */
  encoded: string;
}

interface Frame {
  real: string;
  relative: string;
  names: (string | RawName)[];
  next: number;
}

/** Names sort by their uri form, so a name and the encoding of another never tie. */
const sortKey = (
  n: string | RawName,
) => (typeof n === "string" ? encodeDocumentPath(n) : n.encoded);

/**
 * Walks a source depth-first, each directory's entries in the order of their names' uri form
 * (UTF-16 code units; see `document_uri.ts`), so
 * the same tree always gives the same sequence. Symlinks are followed when they resolve inside
 * DOCUMENT_ROOTS; a file reached twice (two links, or a link and the file) is listed once, at
 * its first path, and a directory is walked once (so link cycles end). Hidden names (leading
 * dot) are left out unless `includeHidden`; files left out by globs or hidden are not reported.
 *
 * @throws {AppError} `path_not_allowed` when the source path itself is not allowed (see
 * {@link resolveSourcePath}); {@link RangeError} for bad options; the signal's reason when
 * aborted. Never throws for a single file or directory: those are yielded as problems.
 */
export async function* scanSource(
  source: ScanSourceSpec,
  options: ScanSourceOptions,
): AsyncGenerator<ScanEntry, void, undefined> {
  const { documentRoots, maxFileSizeBytes, includeHidden = false, signal } = options;
  if (!(typeof maxFileSizeBytes === "number" && maxFileSizeBytes >= 0)) {
    throw new RangeError(
      `Cannot scan source: maxFileSizeBytes must be a non-negative number, got ${maxFileSizeBytes}`,
    );
  }
  const filter = createPathFilter({ include: source.include, exclude: source.exclude });
  signal?.throwIfAborted();
  const rootReal = await resolveSourcePath(source.path, documentRoots);
  const roots = await resolveDocumentRoots(documentRoots);

  const seenFiles = new Set<string>();
  const seenDirectories = new Set<string>();
  const stack: Frame[] = [];

  const enter = async (real: string, relative: string, info?: Deno.FileInfo) => {
    try {
      info ??= await Deno.stat(real);
      // dev+ino also ends loops made by bind mounts, which realPath does not see.
      const key = info.ino !== null ? `${info.dev}:${info.ino}` : real;
      if (seenDirectories.has(key)) return undefined;
      seenDirectories.add(key);
      let names: (string | RawName)[] = [];
      for await (const entry of Deno.readDir(real)) names.push(entry.name);
      // Deno gives a name that is not valid UTF-8 with U+FFFD in place of its bad bytes: such a
      // name cannot be opened, and two of them may look the same. Read the real bytes instead.
      if (names.some((n) => (n as string).includes("\uFFFD"))) {
        names = rawNames(real) ?? [...new Set(names)];
      }
      names.sort((a, b) => {
        const [x, y] = [sortKey(a), sortKey(b)];
        return x < y ? -1 : x > y ? 1 : 0;
      });
      stack.push({ real, relative, names, next: 0 });
      return undefined;
    } catch (err) {
      return problem("failed", real, relative, `cannot read directory: ${readErrorReason(err)}`);
    }
  };

  const rootProblem = await enter(rootReal, "");
  if (rootProblem) yield rootProblem;

  while (stack.length > 0) {
    signal?.throwIfAborted();
    const frame = stack.at(-1)!;
    const name = frame.names[frame.next++];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    if (typeof name !== "string") {
      if (!includeHidden && name.bytes[0] === 0x2e) continue;
      const relative = frame.relative === "" ? name.encoded : `${frame.relative}/${name.encoded}`;
      const uri = `${encodeDocumentPath(frame.real === "/" ? "" : frame.real)}/${name.encoded}`;
      if (!filter.includesFile(relative) || seenFiles.has(uri)) continue;
      seenFiles.add(uri);
      yield await rawEntry(frame.real, name, uri, relative, maxFileSizeBytes);
      continue;
    }
    if (!includeHidden && name.startsWith(".")) continue;
    const relative = frame.relative === "" ? name : `${frame.relative}/${name}`;
    const walked = join(frame.real, name);

    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(walked);
    } catch (err) {
      if (name.includes("\uFFFD") && err instanceof Deno.errors.NotFound) {
        // A name that is not valid UTF-8, and no libc to read it with.
        if (filter.includesFile(relative)) {
          yield problem("skipped", walked, relative, NON_UTF8_UNSUPPORTED);
        }
        continue;
      }
      yield problem("failed", walked, relative, vanishedOrUnreadable(err));
      continue;
    }
    let real = walked;
    if (info.isSymlink) {
      try {
        real = await Deno.realPath(walked);
      } catch (err) {
        if (filter.includesFile(relative)) {
          yield problem("failed", walked, relative, brokenLink(err));
        }
        continue;
      }
      if (!isPathWithinAny(real, roots)) {
        if (filter.includesFile(relative)) {
          yield problem("skipped", walked, relative, "symbolic link leads outside DOCUMENT_ROOTS");
        }
        continue;
      }
      try {
        info = await Deno.stat(real);
      } catch (err) {
        yield problem("failed", walked, relative, vanishedOrUnreadable(err));
        continue;
      }
    }

    if (info.isDirectory) {
      if (filter.excludesDirectory(relative)) continue;
      const trouble = await enter(real, relative, info);
      if (trouble) yield trouble;
      continue;
    }
    if (!filter.includesFile(relative) || seenFiles.has(encodeDocumentPath(real))) continue;
    seenFiles.add(encodeDocumentPath(real));
    const size = info.size;
    const mtimeMs = info.mtime?.getTime() ?? 0;
    if (!info.isFile) {
      yield problem("skipped", real, relative, "not a regular file (FIFO, socket or device)");
    } else if (size > maxFileSizeBytes) {
      yield {
        ...problem(
          "skipped",
          real,
          relative,
          `file is larger than the ${maxFileSizeBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
        ),
        size,
        mtimeMs,
      };
    } else {
      yield { kind: "file", uri: encodeDocumentPath(real), path: relative, size, mtimeMs };
    }
  }
}

function problem(
  kind: "skipped" | "failed",
  path: string,
  relative: string,
  reason: string,
): ScanProblem {
  return { kind, uri: encodeDocumentPath(path), path: relative, reason };
}

/** The names of `directory` with their real bytes, or undefined without libc. */
function rawNames(directory: string): (string | RawName)[] | undefined {
  const raw = rawFs();
  if (!raw) return undefined;
  let names: Uint8Array[];
  try {
    names = raw.listNames(directory);
  } catch {
    return undefined;
  }
  const decoder = new TextDecoder();
  return names.map((bytes) =>
    isValidUtf8(bytes) ? decoder.decode(bytes) : { bytes, encoded: encodeNameBytes(bytes) }
  );
}

/** What a name that is not valid UTF-8 is: opened (never through a link) and measured. */
async function rawEntry(
  directory: string,
  name: RawName,
  uri: string,
  relative: string,
  maxFileSizeBytes: number,
): Promise<ScanEntry> {
  const skipped = (reason: string): ScanProblem => ({
    kind: "skipped",
    uri,
    path: relative,
    reason,
  });
  let info: Deno.FileInfo;
  try {
    const opened = await rawFs()!.open(directory, name.bytes);
    if ("file" in opened) opened.file.close();
    info = opened.info;
  } catch (err) {
    if (err instanceof RawFsError && err.isLink) {
      return skipped("symbolic link whose name is not valid UTF-8: not followed");
    }
    const cause = err instanceof RawFsError ? err.toDenoError() : err;
    return { kind: "failed", uri, path: relative, reason: vanishedOrUnreadable(cause) };
  }
  const size = info.size;
  const mtimeMs = info.mtime?.getTime() ?? 0;
  if (info.isDirectory) return skipped("directory whose name is not valid UTF-8: not walked");
  if (!info.isFile) return skipped("not a regular file (FIFO, socket or device)");
  if (size > maxFileSizeBytes) {
    return {
      ...skipped(
        `file is larger than the ${maxFileSizeBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
      ),
      size,
      mtimeMs,
    };
  }
  return { kind: "file", uri, path: relative, size, mtimeMs };
}

function vanishedOrUnreadable(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "file disappeared during the scan";
  return `cannot read file: ${readErrorReason(err)}`;
}

function brokenLink(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "broken symbolic link: its target does not exist";
  if (err instanceof Deno.errors.FilesystemLoop) return "symbolic link loop";
  return `cannot resolve symbolic link: ${readErrorReason(err)}`;
}
