/**
 * What a crawl reads of an HTML page besides its text: the links to follow (`<a href>`,
 * `<area href>`, resolved against `<base href>`), the canonical URL (`<link rel=canonical>`) and
 * the page's robots directives (`<meta name=robots content="noindex, nofollow">`).
 *
 * htmlparser2's Tokenizer, as in `html_to_text.ts`: linear in the input whatever its nesting,
 * and `<script>`/`<style>` contents are raw text, so links inside scripts are not followed.
 */
import { Tokenizer, type TokenizerCallbacks } from "htmlparser2";
import { normalizePageUrl } from "./page_url.ts";

export interface PageLinks {
  /** Absolute, normalised, each once, in document order. */
  links: string[];
  /** The normalised canonical URL the page declares, if any. */
  canonical: string | undefined;
  /** The page asks not to be indexed. */
  noindex: boolean;
  /** The page asks that its links not be followed. */
  nofollow: boolean;
}

const WATCHED = new Set(["href", "rel", "name", "content"]);

/** The links, canonical URL and robots directives of `html`, fetched from `pageUrl`. */
export function readPageLinks(html: string, pageUrl: string): PageLinks {
  const walker = new LinkWalker(html, pageUrl);
  const tokenizer = new Tokenizer({ decodeEntities: true }, walker);
  tokenizer.write(html);
  tokenizer.end();
  return walker.result();
}

class LinkWalker implements TokenizerCallbacks {
  readonly #html: string;
  #base: string;
  #baseSet = false;
  readonly #links: string[] = [];
  readonly #seen = new Set<string>();
  #canonical: string | undefined;
  #noindex = false;
  #nofollow = false;
  #tag = "";
  #attributes = new Map<string, string>();
  #name = "";
  #value = "";

  constructor(html: string, pageUrl: string) {
    this.#html = html;
    this.#base = pageUrl;
  }

  result(): PageLinks {
    return {
      links: this.#links,
      canonical: this.#canonical,
      noindex: this.#noindex,
      nofollow: this.#nofollow,
    };
  }

  onopentagname(start: number, end: number): void {
    this.#tag = this.#html.slice(start, end).toLowerCase();
    this.#attributes = new Map();
  }

  onattribname(start: number, end: number): void {
    this.#name = this.#html.slice(start, end).toLowerCase();
    this.#value = "";
  }

  onattribdata(start: number, end: number): void {
    if (WATCHED.has(this.#name)) this.#value += this.#html.slice(start, end);
  }

  onattribentity(codepoint: number): void {
    if (WATCHED.has(this.#name)) this.#value += String.fromCodePoint(codepoint);
  }

  onattribend(): void {
    // The first occurrence of an attribute wins, as in browsers.
    if (WATCHED.has(this.#name) && !this.#attributes.has(this.#name)) {
      this.#attributes.set(this.#name, this.#value);
    }
  }

  onopentagend(): void {
    this.#element();
  }

  onselfclosingtag(): void {
    this.#element();
  }

  #element(): void {
    const a = this.#attributes;
    const href = a.get("href");
    switch (this.#tag) {
      case "base":
        if (href !== undefined && !this.#baseSet) {
          this.#baseSet = true;
          this.#base = normalizePageUrl(href, this.#base) ?? this.#base;
        }
        break;
      case "a":
      case "area": {
        if (href === undefined) break;
        const url = normalizePageUrl(href, this.#base);
        if (url !== undefined && !this.#seen.has(url)) {
          this.#seen.add(url);
          this.#links.push(url);
        }
        break;
      }
      case "link": {
        const rel = (a.get("rel") ?? "").toLowerCase().split(/\s+/);
        if (rel.includes("canonical") && href !== undefined && this.#canonical === undefined) {
          this.#canonical = normalizePageUrl(href, this.#base);
        }
        break;
      }
      case "meta": {
        if ((a.get("name") ?? "").toLowerCase() !== "robots") break;
        const directives = (a.get("content") ?? "").toLowerCase().split(/[\s,]+/);
        if (directives.includes("noindex") || directives.includes("none")) this.#noindex = true;
        if (directives.includes("nofollow") || directives.includes("none")) this.#nofollow = true;
        break;
      }
    }
  }

  ontext(): void {}
  ontextentity(): void {}
  onclosetag(): void {}
  onend(): void {}
  oncdata(): void {}
  oncomment(): void {}
  ondeclaration(): void {}
  onprocessinginstruction(): void {}
}
