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
  const finder = new HeadingFinder(style);
  const headings = finder.push(text);
  headings.push(...finder.finish());
  return headings;
}

interface Line {
  start: number;
  end: number;
  text: string;
}

/**
 * {@link findHeadings} over text that arrives in pieces: the same headings, with offsets into the
 * whole text, whatever the pieces. A line is looked at once the line after it has arrived
 * (a setext underline, an RST adornment); the fence state and the line before carry over.
 */
export class HeadingFinder {
  readonly #style: HeadingStyle;
  /** Text of the line not yet ended, from offset `#partialStart`. */
  #partial = "";
  #partialStart = 0;
  /** Ended lines not yet looked at (`#lines[0]` is next), and the one before them. */
  #lines: Line[] = [];
  #previous: Line | undefined;
  #fence: string | undefined;
  #finished = false;

  constructor(style: HeadingStyle) {
    this.#style = style;
  }

  /**
   * Where no heading can start any more: every heading starting before this offset has been
   * returned (the line before the first line not yet looked at may still be an RST overline).
   */
  get settledBefore(): number {
    if (this.#finished) return Infinity;
    if (this.#style === "none") return this.#partialStart + this.#partial.length;
    return this.#previous?.start ?? this.#lines[0]?.start ?? this.#partialStart;
  }

  /** Takes the next text; returns the headings that are now certain. */
  push(text: string): HeadingSpan[] {
    if (this.#finished) throw new Error("Cannot push text: the heading finder has finished");
    if (this.#style === "none") {
      this.#partialStart += text.length;
      return [];
    }
    let from = 0;
    let nl = text.indexOf("\n");
    while (nl >= 0) {
      const lineText = this.#partial + text.slice(from, nl);
      this.#lines.push({
        start: this.#partialStart,
        end: this.#partialStart + lineText.length,
        text: lineText,
      });
      this.#partialStart += lineText.length + 1;
      this.#partial = "";
      from = nl + 1;
      nl = text.indexOf("\n", from);
    }
    this.#partial += text.slice(from);
    return this.#scan(false);
  }

  /** The text has ended: the headings left. */
  finish(): HeadingSpan[] {
    if (this.#finished) return [];
    if (this.#style !== "none") {
      this.#lines.push({
        start: this.#partialStart,
        end: this.#partialStart + this.#partial.length,
        text: this.#partial,
      });
      this.#partial = "";
    }
    const headings = this.#style === "none" ? [] : this.#scan(true);
    this.#finished = true;
    return headings;
  }

  #scan(final: boolean): HeadingSpan[] {
    const headings: HeadingSpan[] = [];
    const lines = this.#lines;
    let i = 0;
    if (this.#style === "markdown") {
      for (; i < lines.length; i++) {
        const line = lines[i]!;
        const fenceMatch = FENCE.exec(line.text);
        if (this.#fence !== undefined) {
          // A fence closes with the same character, at least as long.
          const fence = this.#fence;
          if (
            fenceMatch && fenceMatch[1]![0] === fence[0] && fenceMatch[1]!.length >= fence.length
          ) {
            this.#fence = undefined;
          }
          continue;
        }
        if (fenceMatch) {
          this.#fence = fenceMatch[1]!;
          continue;
        }
        if (ATX.test(line.text)) {
          headings.push({ start: line.start, end: line.end });
          continue;
        }
        const next = lines[i + 1];
        // The next line decides whether this one is a setext heading.
        if (next === undefined && !final) break;
        if (
          next !== undefined && line.text.trim() !== "" && SETEXT_UNDERLINE.test(next.text) &&
          !SETEXT_UNDERLINE.test(line.text) && !/^ {0,3}(?:[-*+]|\d+[.)])[ \t]/.test(line.text)
        ) {
          headings.push({ start: line.start, end: next.end });
          i++;
        }
      }
    } else {
      for (; i + 1 < lines.length; i++) {
        const title = lines[i]!;
        const under = lines[i + 1]!;
        const over = i > 0 ? lines[i - 1] : this.#previous;
        const titleText = title.text.trim();
        if (titleText === "" || RST_ADORNMENT.test(title.text) || /^\s/.test(title.text)) continue;
        const adornment = RST_ADORNMENT.exec(under.text);
        if (!adornment || under.text.trimEnd().length < titleText.length) continue;
        const overlined = over !== undefined && over.text.trimEnd() === under.text.trimEnd();
        headings.push({ start: overlined ? over.start : title.start, end: under.end });
        i++;
      }
      if (final) i = lines.length;
    }
    // Lines [0, i) are done; keep the last of them as the line before the rest.
    if (i > 0) {
      this.#previous = lines[Math.min(i, lines.length) - 1];
      this.#lines = lines.slice(i);
    }
    return headings;
  }
}
