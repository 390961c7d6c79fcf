/**
 * Extraction of a source entry: its bytes from the source, its text from the existing
 * extractors (`extractBytes`). The entry's declared type decides where its name cannot (a web
 * page at `/guide/` is HTML because the server says so).
 */
import {
  extractBytes,
  type ExtractBytesOptions,
  type ExtractedDocument,
} from "../extraction/extract_bytes.ts";
import {
  MIME_HTML,
  MIME_MARKDOWN,
  MIME_PDF,
  MIME_PLAIN,
} from "../extraction/mime_type_for_path.ts";
import type { DocumentSource, EntryRef } from "./document_source.ts";

export interface ExtractEntryOptions extends Omit<ExtractBytesOptions, "path"> {
  /** Larger entries are skipped (MAX_FILE_SIZE_MB in bytes). */
  maxBytes: number;
}

const NAME_FOR_TYPE: Record<string, string> = {
  [MIME_HTML]: "page.html",
  "application/xhtml+xml": "page.html",
  [MIME_PDF]: "document.pdf",
  [MIME_MARKDOWN]: "document.md",
  "text/x-markdown": "document.md",
  [MIME_PLAIN]: "document.txt",
};

/**
 * Opens `entry` in `source` and extracts its text.
 * @throws {ExtractionError} as {@link DocumentSource.open} and {@link extractBytes} do.
 */
export async function extractEntry(
  source: DocumentSource,
  entry: EntryRef & { mimeType?: string | null },
  options: ExtractEntryOptions,
): Promise<ExtractedDocument> {
  const { maxBytes, signal, ...rest } = options;
  const bytes = await source.open(entry, { maxBytes, signal });
  return await extractBytes(bytes, { ...rest, signal, path: extractionName(entry) });
}

/** The name whose extension tells the extractors the entry's type. */
export function extractionName(entry: { path: string; mimeType?: string | null }): string {
  const byType = entry.mimeType ? NAME_FOR_TYPE[entry.mimeType] : undefined;
  return byType ?? entry.path;
}
