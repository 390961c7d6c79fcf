/**
 * The type dispatch of extraction, on bytes already in memory: content decides before the
 * extension (a PDF is a PDF whatever its name, a `.txt` full of NULs is binary), the extension
 * decides between text formats.
 */
import { createHash } from "node:crypto";
import { declaredCharset } from "./declared_charset.ts";
import { decodeText } from "./decode_text.ts";
import { extractDocx, isDocxArchive } from "./extract_docx.ts";
import { extractPdf, type PageSpan } from "./extract_pdf.ts";
import { ExtractionError } from "./extraction_error.ts";
import { htmlToText } from "./html_to_text.ts";
import {
  MIME_DOCX,
  MIME_HTML,
  MIME_PDF,
  MIME_PLAIN,
  mimeTypeForPath,
} from "./mime_type_for_path.ts";
import { sanitizeText } from "./sanitize_text.ts";
import { sniffFormat } from "./sniff_format.ts";

/** What extraction makes of one file. */
export interface ExtractedDocument {
  /**
   * The text to chunk: line ends are `\n`, no NUL or other control characters but tab and form
   * feed, well-formed UTF-16. HTML and DOCX headings are Markdown `#` lines.
   */
  text: string;
  mimeType: string;
  /** SHA-256 (lower-case hex) of the raw bytes; equals {@link hashFile} of the file. */
  contentHash: string;
  sizeBytes: number;
  /**
   * How a text format was decoded (WHATWG name: `utf-8`, `utf-16le`, `utf-16be`, `latin1`, or
   * the charset an HTML page declares); absent for PDF and DOCX.
   */
  encoding?: string;
  /** PDF only: where each page's text lies in {@link text}. */
  pages?: PageSpan[];
}

export interface ExtractBytesOptions {
  /**
   * The file's name or path; only its extension is used.
   * @default {""} (content alone decides: PDF, DOCX or plain text)
   */
  path?: string;
  /**
   * DOCX: most bytes its XML parts may inflate to.
   * @default {67108864} (64 MiB)
   */
  maxInflatedBytes?: number;
  /**
   * DOCX: highest compression ratio allowed for a part over 1 MiB.
   * @default {200}
   */
  maxCompressionRatio?: number;
  /** Aborts between steps (PDF: between pages); the signal's reason is thrown. */
  signal?: AbortSignal;
}

/**
 * Extracts the text of a document from its bytes.
 *
 * Plain text, Markdown, reStructuredText, source code, JSON, CSV, YAML and other text formats
 * come out as decoded text (UTF-8, UTF-16 with a byte order mark, else Latin-1); HTML as its
 * readable text; PDF as its pages' text; DOCX as its paragraphs, headings, lists and tables.
 *
 * @throws {ExtractionError} `skipped` for empty or binary content or no text; `failed` for a
 * corrupt, password-protected or hostile PDF or DOCX.
 */
export async function extractBytes(
  bytes: Uint8Array,
  options: ExtractBytesOptions = {},
): Promise<ExtractedDocument> {
  const { path = "", maxInflatedBytes, maxCompressionRatio, signal } = options;
  signal?.throwIfAborted();
  const contentHash = createHash("sha256").update(bytes).digest("hex");
  const sizeBytes = bytes.length;
  if (sizeBytes === 0) throw new ExtractionError("skipped", "file is empty");

  const byExtension = mimeTypeForPath(path);
  const sniffed = sniffFormat(bytes);

  if (sniffed?.mimeType === MIME_PDF || byExtension === MIME_PDF) {
    const { text, pages } = await extractPdf(bytes, { signal });
    if (text.trim() === "") {
      throw new ExtractionError("skipped", "PDF has no extractable text (scanned images only?)");
    }
    return { text, mimeType: MIME_PDF, contentHash, sizeBytes, pages };
  }

  if (
    byExtension === MIME_DOCX || (sniffed?.mimeType === "application/zip" && isDocxArchive(bytes))
  ) {
    const text = sanitizeText(
      await extractDocx(bytes, { maxInflatedBytes, maxCompressionRatio, signal }),
    );
    if (text.trim() === "") throw new ExtractionError("skipped", "DOCX has no text");
    return { text, mimeType: MIME_DOCX, contentHash, sizeBytes };
  }

  let decoded;
  try {
    decoded = decodeText(bytes);
  } catch (err) {
    // Magic numbers only name the format: a text file may start with "ID3" or "RIFF".
    if (err instanceof ExtractionError && sniffed !== undefined) {
      throw new ExtractionError("skipped", `binary content: ${sniffed.label}`);
    }
    throw err;
  }
  const mimeType = byExtension ?? MIME_PLAIN;
  let raw = decoded.text;
  let encoding: string = decoded.encoding;
  if (mimeType === MIME_HTML && encoding === "latin1") {
    // Not UTF-8: a page in a legacy encoding says which one.
    const declared = declaredCharset(bytes);
    if (declared !== undefined && declared !== "utf-8") {
      raw = new TextDecoder(declared).decode(bytes);
      encoding = declared;
    }
  }
  const text = sanitizeText(mimeType === MIME_HTML ? htmlToText(raw) : raw);
  if (text.trim() === "") {
    throw new ExtractionError("skipped", "no text content (only whitespace or markup)");
  }
  return { text, mimeType, contentHash, sizeBytes, encoding };
}
