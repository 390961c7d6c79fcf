/**
 * Bytes to text for every text format: a byte order mark decides UTF-8 or UTF-16; without one,
 * valid UTF-8 is UTF-8 and anything else is Latin-1, which can decode every byte sequence.
 */
import { ExtractionError } from "./extraction_error.ts";
import { looksBinary } from "./looks_binary.ts";

/** The encodings {@link decodeText} recognises. */
export type TextEncodingName = "utf-8" | "utf-16le" | "utf-16be" | "latin1";

export interface DecodedText {
  text: string;
  encoding: TextEncodingName;
}

/**
 * Decodes a text file's bytes, dropping the byte order mark.
 *
 * UTF-16 is only recognised with a byte order mark: without one its NUL bytes make it binary.
 * "Latin-1" decodes as windows-1252, which the WHATWG Encoding Standard uses for that label, so
 * the curly quotes and dashes of Windows files come out right.
 *
 * @throws {ExtractionError} `skipped` when the content is binary.
 */
export function decodeText(bytes: Uint8Array): DecodedText {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    // The mark says UTF-8, so a bad sequence is damage to replace, not a sign of Latin-1.
    return checked(new TextDecoder("utf-8").decode(bytes.subarray(3)), "utf-8");
  }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return checked(new TextDecoder("utf-16le").decode(bytes.subarray(2)), "utf-16le");
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return checked(new TextDecoder("utf-16be").decode(bytes.subarray(2)), "utf-16be");
  }
  if (looksBinary(bytes)) throw binary();
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), encoding: "utf-8" };
  } catch {
    return { text: new TextDecoder("latin1").decode(bytes), encoding: "latin1" };
  }
}

function checked(text: string, encoding: TextEncodingName): DecodedText {
  // A UTF-32 file also starts with FF FE; decoded as UTF-16 it is full of NULs.
  if (looksBinary(text)) throw binary();
  return { text, encoding };
}

function binary(): ExtractionError {
  return new ExtractionError("skipped", "binary content: not a text file");
}
