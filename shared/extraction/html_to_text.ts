/**
 * HTML to readable text: the words a reader sees, without scripts, styles, hidden elements and
 * navigation boilerplate (nav, aside, site header and footer, ARIA landmarks for them).
 * Headings become Markdown `#` lines so the chunker keeps each heading with its section, list
 * items become `- ` lines, table cells are joined with ` | `, `<pre>` keeps its layout.
 *
 * Library: htmlparser2's Tokenizer (fb55/htmlparser2, the parser under cheerio and linkedom; MIT,
 * actively maintained) decodes entities and handles raw-text elements such as `<script>`. We
 * keep our own element stack instead of a DOM: linkedom and htmlparser2's own Parser keep theirs
 * with `Array.unshift`, which made a hostile 200 000-deep nesting take 20-45 s to parse; this
 * walker is linear in the input whatever its shape.
 */
import { Tokenizer, type TokenizerCallbacks } from "htmlparser2";

/** Elements whose content is never text for a reader. */
const SKIPPED = new Set([
  "head",
  // Kept apart: it becomes the heading of a page without an h1.
  "title",
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "iframe",
  "frame",
  "frameset",
  "object",
  "embed",
  "canvas",
  "audio",
  "video",
  "map",
  "nav",
  "aside",
  "button",
  "select",
  "textarea",
  "datalist",
]);

/** Page chrome, skipped unless inside an article or main (where a header holds the title). */
const CHROME = new Set(["header", "footer"]);
const CONTENT_ROOTS = new Set(["article", "main"]);
const CHROME_ROLES = new Set([
  "navigation",
  "banner",
  "contentinfo",
  "search",
  "complementary",
  "menu",
  "menubar",
  "toolbar",
]);

const VOID = new Set([
  "area",
  "base",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "keygen",
  "link",
  "meta",
  "param",
  "source",
  "track",
  "wbr",
]);

const BLOCK = new Set([
  "address",
  "article",
  "blockquote",
  "body",
  "center",
  "dd",
  "details",
  "dialog",
  "dir",
  "div",
  "dl",
  "dt",
  "fieldset",
  "figcaption",
  "figure",
  "footer",
  "form",
  "header",
  "hgroup",
  "html",
  "legend",
  "main",
  "menu",
  "ol",
  "p",
  "section",
  "summary",
  "ul",
  "caption",
]);

const HEADING = /^h[1-6]$/;
/** Attributes that decide whether an element is visible or chrome; others are not kept. */
const WATCHED_ATTRIBUTES = new Set(["hidden", "aria-hidden", "role", "style"]);
const HIDDEN_STYLE = /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)/i;

interface Open {
  name: string;
  /** This element started a skipped subtree. */
  skip: boolean;
  /** Opened inside a skipped subtree: no effects on open or close. */
  inert: boolean;
}

/** Text of an HTML document or fragment. Never throws for any input string. */
export function htmlToText(html: string): string {
  const walker = new HtmlTextWalker(html);
  const tokenizer = new Tokenizer({ decodeEntities: true }, walker);
  tokenizer.write(html);
  tokenizer.end();
  return walker.result();
}

class HtmlTextWalker implements TokenizerCallbacks {
  readonly #html: string;
  readonly #out = new TextWriter();
  readonly #stack: Open[] = [];
  /** Open elements by name, so a stray end tag is ignored without searching a deep stack. */
  readonly #openCount = new Map<string, number>();
  #skipDepth = 0;
  #preDepth = 0;
  #cellDepth = 0;
  #itemDepth = 0;
  #contentRootDepth = 0;
  #inTitle = false;
  #title = "";
  #sawH1 = false;
  #tagName = "";
  #attributes = new Map<string, string>();
  #attributeName = "";
  #attributeValue = "";

  constructor(html: string) {
    this.#html = html;
  }

  result(): string {
    const body = this.#out.finish();
    const title = this.#title.replace(/\s+/g, " ").trim();
    if (title !== "" && !this.#sawH1) return body === "" ? `# ${title}` : `# ${title}\n\n${body}`;
    return body;
  }

  ontext(start: number, endIndex: number): void {
    this.#text(this.#html.slice(start, endIndex));
  }

  ontextentity(codepoint: number): void {
    this.#text(String.fromCodePoint(codepoint));
  }

  onopentagname(start: number, endIndex: number): void {
    this.#tagName = this.#html.slice(start, endIndex).toLowerCase();
    this.#attributes = new Map();
  }

  onattribname(start: number, endIndex: number): void {
    this.#attributeName = this.#html.slice(start, endIndex).toLowerCase();
    this.#attributeValue = "";
  }

  onattribdata(start: number, endIndex: number): void {
    if (WATCHED_ATTRIBUTES.has(this.#attributeName)) {
      this.#attributeValue += this.#html.slice(start, endIndex);
    }
  }

  onattribentity(codepoint: number): void {
    if (WATCHED_ATTRIBUTES.has(this.#attributeName)) {
      this.#attributeValue += String.fromCodePoint(codepoint);
    }
  }

  onattribend(): void {
    if (WATCHED_ATTRIBUTES.has(this.#attributeName)) {
      this.#attributes.set(this.#attributeName, this.#attributeValue);
    }
  }

  onopentagend(): void {
    this.#open(this.#tagName, this.#attributes);
  }

  onselfclosingtag(): void {
    // In HTML `<div/>` opens a div; only void elements are complete on their own.
    this.#open(this.#tagName, this.#attributes);
  }

  onclosetag(start: number, endIndex: number): void {
    this.#close(this.#html.slice(start, endIndex).toLowerCase());
  }

  onend(): void {
    while (this.#stack.length > 0) this.#pop();
  }

  oncdata(): void {}
  oncomment(): void {}
  ondeclaration(): void {}
  onprocessinginstruction(): void {}

  #text(text: string): void {
    if (this.#inTitle) this.#title += text;
    if (this.#skipDepth > 0) return;
    this.#out.text(text, this.#preDepth > 0);
  }

  #open(name: string, attributes: Map<string, string>): void {
    if (name === "title") this.#inTitle = true;
    if (VOID.has(name)) {
      if (this.#skipDepth === 0) this.#voidEffect(name);
      return;
    }
    const inert = this.#skipDepth > 0;
    const skip = !inert && this.#isSkipped(name, attributes);
    if (skip) this.#skipDepth++;
    else if (!inert) this.#openEffect(name);
    this.#stack.push({ name, skip, inert });
    this.#openCount.set(name, (this.#openCount.get(name) ?? 0) + 1);
  }

  #close(name: string): void {
    if (name === "title") this.#inTitle = false;
    if (VOID.has(name)) {
      // Browsers read a stray `</br>` as `<br>`.
      if (name === "br" && this.#skipDepth === 0) this.#out.lineBreak();
      return;
    }
    if ((this.#openCount.get(name) ?? 0) === 0) {
      if (name === "p" && this.#skipDepth === 0) this.#out.blockBreak();
      return;
    }
    // Unclosed children end with their parent, as in a browser.
    while (this.#pop() !== name);
  }

  #pop(): string | undefined {
    const top = this.#stack.pop();
    if (top === undefined) return undefined;
    this.#openCount.set(top.name, this.#openCount.get(top.name)! - 1);
    if (top.skip) this.#skipDepth--;
    else if (!top.inert) this.#closeEffect(top.name);
    return top.name;
  }

  #isSkipped(name: string, attributes: Map<string, string>): boolean {
    if (SKIPPED.has(name)) return true;
    if (CHROME.has(name) && this.#contentRootDepth === 0) return true;
    if (attributes.has("hidden")) return true;
    if (attributes.get("aria-hidden")?.trim().toLowerCase() === "true") return true;
    const role = attributes.get("role")?.trim().toLowerCase();
    if (role !== undefined && CHROME_ROLES.has(role)) return true;
    const style = attributes.get("style");
    return style !== undefined && HIDDEN_STYLE.test(style);
  }

  #voidEffect(name: string): void {
    if (name === "br") this.#out.lineBreak();
    else if (name === "hr") this.#out.blockBreak();
  }

  #openEffect(name: string): void {
    if (CONTENT_ROOTS.has(name)) this.#contentRootDepth++;
    if (HEADING.test(name)) {
      this.#out.blockBreak();
      if (name === "h1") this.#sawH1 = true;
      this.#out.prefix(`${"#".repeat(Number(name[1]))} `);
    } else if (name === "li") {
      this.#itemDepth++;
      this.#out.endLine();
      this.#out.prefix("- ");
    } else if (name === "pre") {
      this.#out.blockBreak();
      this.#preDepth++;
    } else if (name === "td" || name === "th") {
      this.#cellDepth++;
      this.#out.cell();
    } else if (name === "tr") {
      this.#out.endLine();
    } else if (name === "table") {
      this.#out.blockBreak();
    } else if (BLOCK.has(name)) {
      // Blocks inside a table cell (Word wraps every cell in <p>) stay on the row, and those
      // inside a list item on its lines, so tables and lists stay compact.
      if (this.#cellDepth > 0) this.#out.space();
      else if (this.#itemDepth > 0) this.#out.endLine();
      else this.#out.blockBreak();
    }
  }

  #closeEffect(name: string): void {
    if (CONTENT_ROOTS.has(name)) this.#contentRootDepth--;
    if (HEADING.test(name)) {
      this.#out.clearPrefix();
      this.#out.blockBreak();
    } else if (name === "li") {
      this.#itemDepth--;
      this.#out.clearPrefix();
      this.#out.endLine();
    } else if (name === "pre") {
      this.#preDepth--;
      this.#out.blockBreak();
    } else if (name === "td" || name === "th") {
      this.#cellDepth--;
    } else if (name === "tr") {
      this.#out.endLine();
    } else if (name === "table") {
      this.#out.blockBreak();
    } else if (BLOCK.has(name)) {
      if (this.#cellDepth > 0) this.#out.space();
      else if (this.#itemDepth > 0) this.#out.endLine();
      else this.#out.blockBreak();
    }
  }
}

/**
 * Accumulates text as blocks (joined by a blank line) of lines, collapsing HTML whitespace
 * outside `<pre>`.
 */
class TextWriter {
  #blocks: string[] = [];
  #lines: string[] = [];
  #line = "";
  #pendingSpace = false;
  #pendingPrefix = "";
  #rowHasCell = false;

  text(text: string, preformatted: boolean): void {
    if (preformatted) {
      const parts = text.split("\n");
      parts.forEach((part, i) => {
        if (i > 0) this.lineBreak();
        if (part !== "") this.#write(part);
      });
      return;
    }
    const collapsed = text.replace(/[\s\u00a0]+/g, " ");
    if (collapsed === " ") {
      this.#pendingSpace = true;
      return;
    }
    if (collapsed === "") return;
    if (collapsed.startsWith(" ")) this.#pendingSpace = true;
    const trimmed = collapsed.trim();
    if (this.#pendingSpace && this.#line !== "" && !this.#line.endsWith(" ")) this.#line += " ";
    this.#write(trimmed);
    this.#pendingSpace = collapsed.endsWith(" ");
  }

  /** A prefix for the next text written ("## ", "- "); dropped if no text follows. */
  prefix(prefix: string): void {
    this.#pendingPrefix = prefix;
  }

  clearPrefix(): void {
    this.#pendingPrefix = "";
  }

  space(): void {
    this.#pendingSpace = true;
  }

  cell(): void {
    if (this.#rowHasCell && this.#line !== "") {
      this.#line += " | ";
      this.#pendingSpace = false;
    }
    this.#rowHasCell = true;
  }

  /** Ends the current line if it has text (list items, table rows). */
  endLine(): void {
    if (this.#line !== "") this.lineBreak();
  }

  /** A forced line break (`<br>`, a newline in `<pre>`), even after an empty line. */
  lineBreak(): void {
    this.#lines.push(this.#line.trimEnd());
    this.#line = "";
    this.#pendingSpace = false;
    this.#rowHasCell = false;
  }

  blockBreak(): void {
    if (this.#line !== "") this.lineBreak();
    while (this.#lines.length > 0 && this.#lines.at(-1) === "") this.#lines.pop();
    while (this.#lines.length > 0 && this.#lines[0] === "") this.#lines.shift();
    if (this.#lines.length > 0) this.#blocks.push(this.#lines.join("\n"));
    this.#lines = [];
    this.#line = "";
    this.#pendingSpace = false;
    this.#rowHasCell = false;
  }

  finish(): string {
    this.blockBreak();
    // Runs of <br> make blank lines inside a block; one blank line is enough.
    return this.#blocks.join("\n\n").replace(/\n{3,}/g, "\n\n");
  }

  #write(text: string): void {
    if (this.#line === "" && this.#pendingPrefix !== "") {
      this.#line = this.#pendingPrefix;
      this.#pendingPrefix = "";
    }
    this.#line += text;
  }
}
