/**
 * DOCX text: mammoth turns the document into semantic HTML (headings from Word's heading
 * styles, lists, tables, footnotes), then {@link htmlToText} makes it text with `#` headings.
 *
 * A DOCX is a ZIP archive, so it is opened defensively before mammoth (whose JSZip inflates
 * whatever it is given) sees it: the declared sizes of the XML parts are checked against a
 * total and a compression ratio, each part is inflated with a hard stop at its declared size,
 * and mammoth receives a new, uncompressed archive of just those parts. Images and other
 * media are never inflated.
 */
import { type Zippable, zipSync } from "fflate";
import { ExtractionError } from "./extraction_error.ts";
import { htmlToText } from "./html_to_text.ts";
import { loadMammoth } from "./_mammoth.ts";
import { inflateEntry, readZipDirectory, type ZipEntry } from "./_zip_archive.ts";
import { errorMessage } from "../errors.ts";

export interface ExtractDocxOptions {
  /**
   * Most bytes the document's XML parts may inflate to in total.
   * @default {67108864} (64 MiB)
   */
  maxInflatedBytes?: number;
  /**
   * Highest compression ratio allowed for a part larger than 1 MiB. Word's XML compresses
   * about 5-20:1; zip bombs reach 1000:1.
   * @default {200}
   */
  maxCompressionRatio?: number;
  /** Aborts between steps; the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** Parts smaller than this are not ratio-checked: tiny repetitive XML compresses very well. */
const RATIO_CHECK_FLOOR = 1024 * 1024;

/** Whether a ZIP archive holds a Word document (its main part). Never throws. */
export function isDocxArchive(bytes: Uint8Array): boolean {
  try {
    return readZipDirectory(bytes).some((e) => e.name === "word/document.xml");
  } catch {
    return false;
  }
}

/**
 * The text of a DOCX document.
 *
 * @throws {ExtractionError} `failed` for a damaged archive, a file that is not a Word document,
 * or one refused as a zip bomb; `skipped` when it has no text.
 */
export async function extractDocx(
  bytes: Uint8Array,
  options: ExtractDocxOptions = {},
): Promise<string> {
  const { maxInflatedBytes = 64 * 1024 * 1024, maxCompressionRatio = 200, signal } = options;
  if (!(maxInflatedBytes > 0)) {
    throw new RangeError(
      `Cannot extract DOCX: maxInflatedBytes must be positive, got ${maxInflatedBytes}`,
    );
  }
  if (!(maxCompressionRatio >= 1)) {
    throw new RangeError(
      `Cannot extract DOCX: maxCompressionRatio must be at least 1, got ${maxCompressionRatio}`,
    );
  }
  signal?.throwIfAborted();
  const parts = readZipDirectory(bytes).filter(isXmlPart);
  if (!parts.some((e) => e.name === "word/document.xml")) {
    throw new ExtractionError("failed", "corrupt DOCX: no word/document.xml, not a Word document");
  }
  checkDeclaredSizes(parts, maxInflatedBytes, maxCompressionRatio);

  const safe: Zippable = {};
  for (const part of parts) {
    signal?.throwIfAborted();
    safe[part.name] = [inflateEntry(bytes, part), { level: 0 }];
  }
  const archive = zipSync(safe);

  const mammoth = await loadMammoth();
  signal?.throwIfAborted();
  let html: string;
  try {
    const result = await mammoth.convertToHtml({ buffer: archive as never }, {
      // Images are not text, and their bytes were left out of the archive on purpose.
      convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: "" })),
    });
    html = result.value;
  } catch (err) {
    throw new ExtractionError("failed", `corrupt DOCX: ${errorMessage(err)}`, { cause: err });
  }
  signal?.throwIfAborted();
  return htmlToText(html);
}

function isXmlPart(entry: ZipEntry): boolean {
  const name = entry.name.toLowerCase();
  return !name.endsWith("/") && (name.endsWith(".xml") || name.endsWith(".rels"));
}

function checkDeclaredSizes(parts: ZipEntry[], maxInflated: number, maxRatio: number): void {
  let total = 0;
  for (const part of parts) {
    total += part.uncompressedSize;
    const ratio = part.uncompressedSize / Math.max(1, part.compressedSize);
    if (part.uncompressedSize > RATIO_CHECK_FLOOR && ratio > maxRatio) {
      throw new ExtractionError(
        "failed",
        `DOCX refused as a zip bomb: ${part.name} would inflate from ${part.compressedSize} to ${part.uncompressedSize} bytes (${
          Math.round(ratio)
        }:1, limit ${maxRatio}:1)`,
      );
    }
  }
  if (total > maxInflated) {
    throw new ExtractionError(
      "failed",
      `DOCX refused as a zip bomb: its XML would inflate to ${total} bytes, over the ${maxInflated} byte limit`,
    );
  }
}
