/**
 * PDF text per page with unpdf (unjs/unpdf, MIT): Mozilla's pdf.js built for serverless
 * runtimes, so it runs in Deno without a worker thread, canvas or native code, and follows
 * pdf.js releases. pdf.js is the most widely deployed PDF reader in JavaScript and copes with
 * the damaged files real folders hold.
 */
import { getDocumentProxy } from "unpdf";
import { errorMessage } from "../errors.ts";
import { ExtractionError } from "./extraction_error.ts";
import { sanitizeText } from "./sanitize_text.ts";

/** Where one page's text lies in the document's text: `text.slice(start, end)`. */
export interface PageSpan {
  /** 1-based page number. */
  page: number;
  start: number;
  end: number;
}

export interface PdfText {
  /** Pages' text in order, separated by a blank line. */
  text: string;
  pages: PageSpan[];
}

export interface ExtractPdfOptions {
  /** Aborts between pages; the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** What separates pages in {@link PdfText.text}: a paragraph break for the chunker. */
const PAGE_SEPARATOR = "\n\n";

/** The exception classes of pdf.js (`BaseException` subclasses, by name). */
const PDFJS_ERRORS = new Set([
  "AbortException",
  "DNLMarkerError",
  "EOIMarkerError",
  "FormatError",
  "InvalidPDFException",
  "JpegError",
  "JpxError",
  "MissingDataException",
  "ParserEOFException",
  "PasswordException",
  "ResponseException",
  "UnknownErrorException",
  "XRefEntryException",
  "XRefParseException",
]);

let rejectionGuardInstalled = false;

/**
 * pdf.js runs its "worker" in this thread in unpdf's build, and for some damaged pages it
 * rejects an internal promise nobody awaits, besides the one we get (found by
 * tests/extraction_fuzz_test.ts: "End of file inside array"). Unhandled, that rejection would
 * end the process, so rejections of pdf.js's own exception classes raised in its code are
 * marked handled; every other unhandled rejection still ends the process.
 */
function guardPdfJsRejections(): void {
  if (rejectionGuardInstalled) return;
  rejectionGuardInstalled = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason as { name?: unknown; stack?: unknown } | undefined;
    if (
      typeof reason?.name === "string" && PDFJS_ERRORS.has(reason.name) &&
      typeof reason.stack === "string" && reason.stack.includes("pdfjs")
    ) {
      event.preventDefault();
    }
  });
}

/**
 * The text of each page of a PDF. Text is sanitised (see {@link sanitizeText}) and trimmed per
 * page; a page without text gets an empty span.
 *
 * @throws {ExtractionError} `failed` for a damaged or password-protected PDF.
 */
export async function extractPdf(
  bytes: Uint8Array,
  options: ExtractPdfOptions = {},
): Promise<PdfText> {
  const { signal } = options;
  signal?.throwIfAborted();
  guardPdfJsRejections();
  // pdf.js may take over the buffer it is given; the caller's bytes stay usable.
  const data = bytes.slice();
  let document: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    document = await getDocumentProxy(data, {
      // Damaged files are common; pdf.js would log a warning for each repair.
      verbosity: 0,
      // Text only: no font loading.
      disableFontFace: true,
      stopAtErrors: false,
    });
  } catch (err) {
    throw pdfError(err);
  }
  try {
    const pages: PageSpan[] = [];
    let text = "";
    for (let number = 1; number <= document.numPages; number++) {
      signal?.throwIfAborted();
      let pageText: string;
      try {
        const page = await document.getPage(number);
        const content = await page.getTextContent();
        pageText = content.items
          .map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : ""))
          .join("");
        page.cleanup();
      } catch (err) {
        throw pdfError(err);
      }
      pageText = sanitizeText(pageText).trim();
      if (number > 1) text += PAGE_SEPARATOR;
      pages.push({ page: number, start: text.length, end: text.length + pageText.length });
      text += pageText;
    }
    return { text, pages };
  } finally {
    await document.loadingTask.destroy().catch(() => {});
  }
}

function pdfError(err: unknown): ExtractionError {
  if (err instanceof ExtractionError) return err;
  const name = (err as { name?: unknown })?.name;
  const message = errorMessage(err);
  if (name === "PasswordException") {
    return new ExtractionError("failed", "PDF is password-protected", { cause: err });
  }
  return new ExtractionError("failed", `corrupt PDF: ${message}`, { cause: err });
}
