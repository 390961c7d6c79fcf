/**
 * The uri of a directory source's document: its real path, written so that every file name maps
 * to one uri and back, including names that are not valid UTF-8 (Linux allows any bytes but `/`
 * and NUL; Deno's own calls see such names only as lossy strings with U+FFFD).
 *
 * The rule (docs/API.md): `%` is written `%25`; each byte that is not part of a valid UTF-8
 * sequence is written `%XX` (upper-case hex); every other character is itself. So `100%.txt`
 * becomes `100%25.txt`, the bytes `a\xFFb.txt` become `a%FFb.txt`, and no two names share a uri.
 */

/** A path decoded from a uri: text Deno can open, or a directory and a name in raw bytes. */
export type DocumentPath =
  | { kind: "text"; path: string }
  | { kind: "raw"; directory: string; name: Uint8Array };

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** The uri form of a path Deno gives as a string (valid Unicode): `%` becomes `%25`. */
export function encodeDocumentPath(path: string): string {
  return path.includes("%") ? path.replaceAll("%", "%25") : path;
}

/** The uri form of a file name given as raw bytes. */
export function encodeNameBytes(name: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < name.length) {
    const length = utf8SequenceLength(name, i);
    if (length === 0) {
      out += `%${name[i]!.toString(16).toUpperCase().padStart(2, "0")}`;
      i++;
      continue;
    }
    const char = strict.decode(name.subarray(i, i + length));
    out += char === "%" ? "%25" : char;
    i += length;
  }
  return out;
}

/** Whether `bytes` are valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path a uri names (the inverse of the encoders). A `%` not followed by two hex digits stands
 * for itself. Raw bytes are only expected in the last component (a directory whose name is not
 * valid UTF-8 is never walked); elsewhere they are refused.
 *
 * @throws {TypeError} when a directory component is not valid UTF-8.
 */
export function decodeDocumentUri(uri: string): DocumentPath {
  if (!uri.includes("%")) return { kind: "text", path: uri };
  const bytes = percentDecode(uri);
  if (isValidUtf8(bytes)) return { kind: "text", path: strict.decode(bytes) };
  const slash = bytes.lastIndexOf(0x2f);
  const directory = bytes.subarray(0, Math.max(slash, 0));
  if (slash < 0 || !isValidUtf8(directory)) {
    throw new TypeError(`Cannot decode document uri: a directory is not valid UTF-8: ${uri}`);
  }
  return {
    kind: "raw",
    directory: slash === 0 ? "/" : strict.decode(directory),
    name: bytes.slice(slash + 1),
  };
}

function percentDecode(uri: string): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < uri.length) {
    const c = uri[i]!;
    if (c === "%" && /^[0-9A-Fa-f]{2}$/.test(uri.slice(i + 1, i + 3))) {
      out.push(parseInt(uri.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    const code = uri.codePointAt(i)!;
    const width = code > 0xffff ? 2 : 1;
    out.push(...encoder.encode(uri.slice(i, i + width)));
    i += width;
  }
  return Uint8Array.from(out);
}

/** Length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const b1 = b[i + 1];
    if (b1 === undefined) return 0;
    if (b0 === 0xe0 && b1 < 0xa0) return 0; // overlong
    if (b0 === 0xed && b1 > 0x9f) return 0; // surrogates
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const b1 = b[i + 1];
    if (b1 === undefined) return 0;
    if (b0 === 0xf0 && b1 < 0x90) return 0;
    if (b0 === 0xf4 && b1 > 0x8f) return 0;
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
