/**
 * Extraction of a large plain-text file (text, Markdown, reStructuredText, code, CSV...) without
 * holding it: the text comes out a block at a time, decoded and sanitised exactly as
 * {@link extractBytes} would do it for the whole file, and the content hash is taken on the way.
 * Formats that need the whole file (PDF, DOCX, HTML) are left to {@link extractFile}.
 */
import { createHash, type Hash } from "node:crypto";
import { ExtractionError } from "./extraction_error.ts";
import type { TextEncodingName } from "./decode_text.ts";
import { BINARY_SAMPLE_SIZE, looksBinary } from "./looks_binary.ts";
import {
  MIME_DOCX,
  MIME_HTML,
  MIME_PDF,
  MIME_PLAIN,
  mimeTypeForPath,
} from "./mime_type_for_path.ts";
import { type DocumentFs, openDocument } from "./open_document.ts";
import { readErrorReason } from "./_read_error_reason.ts";
import { sanitizeText } from "./sanitize_text.ts";
import { sniffFormat } from "./sniff_format.ts";

export interface StreamTextFileOptions {
  /** DOCUMENT_ROOTS: the file must resolve inside one of them when it is opened. */
  documentRoots: readonly string[];
  /** Larger files are skipped (MAX_FILE_SIZE_MB in bytes). */
  maxBytes: number;
  /** Bytes read at a time. @default {1048576} */
  blockBytes?: number;
  /** Aborts between blocks; the signal's reason is thrown. */
  signal?: AbortSignal;
  /** The calls {@link openDocument} makes. @default {Deno's} */
  fs?: DocumentFs;
}

/** A text file being read: its blocks, then what is known once they are all read. */
export interface TextFileStream {
  mimeType: string;
  encoding: TextEncodingName;
  /** Size when opened. */
  sizeBytes: number;
  /**
   * The sanitised text, a block at a time (their concatenation is {@link extractBytes}'s
   * `text`). Read once; the file is closed when they end, fail, or the loop is left.
   *
   * @throws {ExtractionError} `failed` when a read fails, `skipped` when the file grew past
   * `maxBytes` or holds only whitespace.
   */
  blocks: AsyncIterable<string>;
  /** Bytes read so far. */
  readonly bytesRead: number;
  /** SHA-256 (hex) of the bytes read; complete once `blocks` has ended. */
  contentHash(): string;
  /** Closes the file when `blocks` was never read. */
  close(): void;
}

/**
 * Opens `path` (through {@link openDocument}) as a stream of text, or returns undefined when it
 * is not a plain text file that can be read a block at a time: its name says PDF, DOCX or HTML,
 * or its first bytes are a known binary format's magic number (extraction of the whole file
 * decides then).
 *
 * The encoding is decided as {@link decodeText} does: a byte order mark, else UTF-8 when every
 * byte sequence of the file is valid UTF-8 (one reading pass checks), else Latin-1.
 *
 * @throws {ExtractionError} `skipped` for an empty, too large or binary file or a link leaving
 * the roots; `failed` when it cannot be read.
 */
export async function streamTextFile(
  path: string,
  options: StreamTextFileOptions,
): Promise<TextFileStream | undefined> {
  const { documentRoots, maxBytes, blockBytes = 1 << 20, signal, fs } = options;
  if (!Number.isInteger(blockBytes) || blockBytes < 1) {
    throw new RangeError(
      `Cannot stream text file: blockBytes must be a positive integer, got ${blockBytes}`,
    );
  }
  const byExtension = mimeTypeForPath(path);
  if (byExtension === MIME_PDF || byExtension === MIME_DOCX || byExtension === MIME_HTML) {
    return undefined;
  }
  const { file, info } = await openDocument(path, documentRoots, { signal, fs });
  let handedOver = false;
  try {
    if (info.size > maxBytes) throw tooLarge(info.size, maxBytes);
    if (info.size === 0) throw new ExtractionError("skipped", "file is empty");
    const head = await readAt(file, 0, Math.max(BINARY_SAMPLE_SIZE, 16));
    if (head.length === 0) throw new ExtractionError("skipped", "file is empty");
    if (sniffFormat(head) !== undefined) return undefined;

    let encoding: TextEncodingName;
    let skip = 0;
    if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) [encoding, skip] = ["utf-8", 3];
    else if (head[0] === 0xff && head[1] === 0xfe) [encoding, skip] = ["utf-16le", 2];
    else if (head[0] === 0xfe && head[1] === 0xff) [encoding, skip] = ["utf-16be", 2];
    else {
      if (looksBinary(head)) throw binary();
      encoding = await isUtf8(file, blockBytes, signal) ? "utf-8" : "latin1";
    }
    handedOver = true;
    return new FileTextStream(file, {
      mimeType: byExtension ?? MIME_PLAIN,
      encoding,
      skip,
      sizeBytes: info.size,
      maxBytes,
      blockBytes,
      signal,
    });
  } finally {
    if (!handedOver) file.close();
  }
}

interface StreamSetup {
  mimeType: string;
  encoding: TextEncodingName;
  skip: number;
  sizeBytes: number;
  maxBytes: number;
  blockBytes: number;
  signal: AbortSignal | undefined;
}

class FileTextStream implements TextFileStream {
  readonly mimeType: string;
  readonly encoding: TextEncodingName;
  readonly sizeBytes: number;
  readonly #file: Deno.FsFile;
  readonly #setup: StreamSetup;
  readonly #hash: Hash = createHash("sha256");
  #bytesRead = 0;
  #digest: string | undefined;
  #closed = false;

  constructor(file: Deno.FsFile, setup: StreamSetup) {
    this.#file = file;
    this.#setup = setup;
    this.mimeType = setup.mimeType;
    this.encoding = setup.encoding;
    this.sizeBytes = setup.sizeBytes;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get blocks(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => this.#read() };
  }

  contentHash(): string {
    this.#digest ??= this.#hash.digest("hex");
    return this.#digest;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  async *#read(): AsyncGenerator<string, void, undefined> {
    const { encoding, skip, maxBytes, blockBytes, signal } = this.#setup;
    const decoder = new TextDecoder(encoding);
    const sanitizer = new SanitizeStream();
    let checked = skip === 0; // the BOM cases check the decoded text, as decodeText does
    let sample = "";
    let text = false;
    try {
      await seekStart(this.#file);
      while (true) {
        signal?.throwIfAborted();
        const buffer = new Uint8Array(blockBytes);
        const read = await readable(() => this.#file.read(buffer));
        if (read === null) break;
        const bytes = buffer.subarray(0, read);
        const offset = this.#bytesRead;
        this.#bytesRead += read;
        // The file may have grown since it was measured.
        if (this.#bytesRead > maxBytes) throw tooLarge(this.#bytesRead, maxBytes);
        this.#hash.update(bytes);
        const body = offset < skip ? bytes.subarray(Math.min(read, skip - offset)) : bytes;
        const decoded = decoder.decode(body, { stream: true });
        if (!checked) {
          sample += decoded.slice(0, BINARY_SAMPLE_SIZE - sample.length);
          if (sample.length >= BINARY_SAMPLE_SIZE) {
            if (looksBinary(sample)) throw binary();
            checked = true;
          }
        }
        const clean = sanitizer.push(decoded);
        if (clean !== "") {
          text ||= /\S/.test(clean);
          yield clean;
        }
      }
      const last = decoder.decode();
      if (!checked && looksBinary(sample + last)) throw binary();
      const clean = sanitizer.push(last) + sanitizer.finish();
      text ||= /\S/.test(clean);
      if (!text) {
        throw new ExtractionError("skipped", "no text content (only whitespace or markup)");
      }
      if (clean !== "") yield clean;
    } finally {
      this.close();
    }
  }
}

/**
 * {@link sanitizeText} over text in pieces: the same output as for the whole text. A piece's
 * tail that the next piece may change is held back: a carriage return (CR LF is one line end),
 * the start of a terminal escape sequence, a high surrogate.
 */
export class SanitizeStream {
  #held = "";

  push(text: string): string {
    const all = this.#held + text;
    const keep = heldTail(all);
    this.#held = all.slice(all.length - keep);
    return sanitizeText(all.slice(0, all.length - keep));
  }

  finish(): string {
    const rest = sanitizeText(this.#held);
    this.#held = "";
    return rest;
  }
}

// deno-lint-ignore no-control-regex
const OPEN_ESCAPE = /\u001b(?:\[[0-9;?]*[ -/]*)?$/;

function heldTail(text: string): number {
  let keep = 0;
  const escape = OPEN_ESCAPE.exec(text);
  if (escape) keep = text.length - escape.index;
  const last = text.charCodeAt(text.length - 1);
  if (last === 0x0d || (last >= 0xd800 && last <= 0xdbff)) keep = Math.max(keep, 1);
  return keep;
}

async function isUtf8(
  file: Deno.FsFile,
  blockBytes: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  await seekStart(file);
  const buffer = new Uint8Array(blockBytes);
  try {
    while (true) {
      signal?.throwIfAborted();
      const read = await readable(() => file.read(buffer));
      if (read === null) break;
      decoder.decode(buffer.subarray(0, read), { stream: true });
    }
    decoder.decode();
    return true;
  } catch (err) {
    if (err instanceof TypeError) return false;
    throw err;
  }
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await readable(() => file.seek(offset, Deno.SeekMode.Start));
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const read = await readable(() => file.read(out.subarray(at)));
    if (read === null) break;
    at += read;
  }
  return out.subarray(0, at);
}

async function seekStart(file: Deno.FsFile): Promise<void> {
  await readable(() => file.seek(0, Deno.SeekMode.Start));
}

async function readable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new ExtractionError("failed", `cannot read file: ${readErrorReason(err)}`, {
      cause: err,
    });
  }
}

function binary(): ExtractionError {
  return new ExtractionError("skipped", "binary content: not a text file");
}

function tooLarge(size: number, maxBytes: number): ExtractionError {
  return new ExtractionError(
    "skipped",
    `file is larger than the ${maxBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
  );
}
