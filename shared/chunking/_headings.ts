/**
 * Where the headings of a document are, so the chunker can start chunks at sections and never
 * leave a heading at the end of a chunk, away from the text it introduces.
 */

/** A heading's lines: `text.slice(start, end)`, underline (and RST overline) included. */
export interface HeadingSpan {
  start: number;
  end: number;
}

/** How a format marks headings. */
export type HeadingStyle = "markdown" | "rst" | "none";

const MARKDOWN_LIKE = new Set([
  "text/markdown",
  "text/x-markdown",
  // Extraction writes HTML and DOCX headings as Markdown `#` lines.
  "text/html",
  "application/xhtml+xml",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
]);

/** The heading style of a MIME type (extraction's output for HTML and DOCX is Markdown-like). */
export function headingStyleOf(mimeType: string): HeadingStyle {
  const base = mimeType.split(";")[0]!.trim().toLowerCase();
  if (MARKDOWN_LIKE.has(base)) return "markdown";
  if (base === "text/x-rst" || base === "text/prs.fallenstein.rst") return "rst";
  return "none";
}

const ATX = /^ {0,3}#{1,6}(?:[ \t]|$)/;
const SETEXT_UNDERLINE = /^ {0,3}(?:=+|-+)[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const RST_ADORNMENT = /^([=\-`:'"~^_*+#<>])\1+[ \t]*$/;

/** The headings of `text` in order. Markdown: ATX and setext headings outside code fences. */
export function findHeadings(text: string, style: HeadingStyle): HeadingSpan[] {
  if (style === "none") return [];
  const lines = splitLines(text);
  return style === "markdown" ? markdownHeadings(lines) : rstHeadings(lines);
}

interface Line {
  start: number;
  end: number;
  text: string;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lines.push({ start, end, text: text.slice(start, end) });
    start = end + 1;
  }
  return lines;
}

function markdownHeadings(lines: Line[]): HeadingSpan[] {
  const headings: HeadingSpan[] = [];
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fenceMatch = FENCE.exec(line.text);
    if (fence !== undefined) {
      // A fence closes with the same character, at least as long.
      if (fenceMatch && fenceMatch[1]![0] === fence[0] && fenceMatch[1]!.length >= fence.length) {
        fence = undefined;
      }
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1]!;
      continue;
    }
    if (ATX.test(line.text)) {
      headings.push({ start: line.start, end: line.end });
      continue;
    }
    const next = lines[i + 1];
    if (
      next !== undefined && line.text.trim() !== "" && SETEXT_UNDERLINE.test(next.text) &&
      !SETEXT_UNDERLINE.test(line.text) && !/^ {0,3}(?:[-*+]|\d+[.)])[ \t]/.test(line.text)
    ) {
      headings.push({ start: line.start, end: next.end });
      i++;
    }
  }
  return headings;
}

function rstHeadings(lines: Line[]): HeadingSpan[] {
  const headings: HeadingSpan[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const title = lines[i]!;
    const under = lines[i + 1]!;
    const titleText = title.text.trim();
    if (titleText === "" || RST_ADORNMENT.test(title.text) || /^\s/.test(title.text)) continue;
    const adornment = RST_ADORNMENT.exec(under.text);
    if (!adornment || under.text.trimEnd().length < titleText.length) continue;
    const over = lines[i - 1];
    const overlined = over !== undefined && over.text.trimEnd() === under.text.trimEnd();
    headings.push({ start: overlined ? over.start : title.start, end: under.end });
    i++;
  }
  return headings;
}
