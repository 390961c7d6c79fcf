/**
 * Just enough ZIP to open a DOCX without trusting it: the central directory parsed with every
 * offset checked against the file, and entries inflated with fflate's streaming Inflate so that
 * output past the declared size stops the work at once. (fflate's `unzipSync` trusts the entry
 * count, up to 2^32 with ZIP64, and inflates a lying entry to its end before truncating it.)
 */
import { Inflate } from "fflate";
import { ExtractionError } from "./extraction_error.ts";

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  /** As declared by the archive: a hostile one may lie, {@link inflateEntry} checks. */
  uncompressedSize: number;
  encrypted: boolean;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Compressed input fed per step: bounds the output of one step to about 1 MiB (deflate's
 * best ratio is 1032:1). */
const INFLATE_STEP = 1024;

/**
 * The entries of the archive's central directory.
 *
 * @throws {ExtractionError} `failed` when `bytes` is not a well-formed ZIP archive.
 */
export function readZipDirectory(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(bytes, view);
  const count = view.getUint16(eocd + 10, true);
  const size = view.getUint32(eocd + 12, true);
  const offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    throw corrupt("ZIP64 archives are not supported");
  }
  if (offset + size > eocd) throw corrupt("central directory lies outside the file");
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > offset + size || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw corrupt(`central directory entry ${i} is damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const compressedSize = view.getUint32(at + 20, true);
    const uncompressedSize = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const localHeaderOffset = view.getUint32(at + 42, true);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > offset + size) throw corrupt(`central directory entry ${i} is damaged`);
    if (
      compressedSize === 0xffffffff || uncompressedSize === 0xffffffff ||
      localHeaderOffset === 0xffffffff
    ) {
      throw corrupt("ZIP64 entries are not supported");
    }
    entries.push({
      name: decoder.decode(bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength)),
      method,
      compressedSize,
      uncompressedSize,
      encrypted: (flags & 1) !== 0,
      localHeaderOffset,
    });
    at = next;
  }
  return entries;
}

/**
 * The inflated content of `entry`.
 *
 * @throws {ExtractionError} `failed` when the entry is damaged, encrypted, uses another
 * compression method, or inflates to more than its declared size (checked as it inflates).
 */
export function inflateEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  if (entry.encrypted) throw corrupt(`${entry.name} is encrypted`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const local = entry.localHeaderOffset;
  if (local + LOCAL_SIZE > bytes.length || view.getUint32(local, true) !== LOCAL_SIGNATURE) {
    throw corrupt(`${entry.name} has no local header`);
  }
  const start = local + LOCAL_SIZE + view.getUint16(local + 26, true) +
    view.getUint16(local + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) throw corrupt(`${entry.name} runs past the end of the file`);
  const data = bytes.subarray(start, end);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize) {
      throw corrupt(`${entry.name} is stored with two different sizes`);
    }
    return data.slice();
  }
  if (entry.method !== 8) {
    throw corrupt(`${entry.name} uses unsupported compression method ${entry.method}`);
  }
  const out = new Uint8Array(entry.uncompressedSize);
  let written = 0;
  let overflow = false;
  const inflate = new Inflate((chunk) => {
    if (written + chunk.length > out.length) {
      overflow = true;
      return;
    }
    out.set(chunk, written);
    written += chunk.length;
  });
  try {
    for (let at = 0; at < data.length && !overflow; at += INFLATE_STEP) {
      const stop = Math.min(at + INFLATE_STEP, data.length);
      inflate.push(data.subarray(at, stop), stop === data.length);
    }
    if (data.length === 0) inflate.push(data, true);
  } catch (err) {
    throw corrupt(`${entry.name} does not inflate (${(err as Error).message})`, err);
  }
  if (overflow) {
    throw new ExtractionError(
      "failed",
      `corrupt DOCX: ${entry.name} inflates to more than its declared ${entry.uncompressedSize} bytes (a zip bomb?)`,
    );
  }
  return written === out.length ? out : out.subarray(0, written);
}

function findEndOfCentralDirectory(bytes: Uint8Array, view: DataView): number {
  const last = bytes.length - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let at = last; at >= first; at--) {
    if (
      bytes[at] === 0x50 && bytes[at + 1] === 0x4b && view.getUint32(at, true) === EOCD_SIGNATURE
    ) {
      return at;
    }
  }
  throw corrupt("not a ZIP archive (no end of central directory)");
}

function corrupt(what: string, cause?: unknown): ExtractionError {
  return new ExtractionError("failed", `corrupt DOCX: ${what}`, { cause });
}
