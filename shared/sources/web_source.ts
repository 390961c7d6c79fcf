/**
 * A web site as a source: a polite crawl from the start URL, within its host and path prefix.
 * robots.txt is honoured (its Crawl-delay too), `sitemap.xml` (or the sitemaps robots.txt names)
 * seeds the crawl, links are followed breadth-first up to `max_depth`, at most `max_pages` pages
 * are fetched, one request at a time per host with a pause. Redirects are followed hop by hop
 * within the scope (each hop checked: scope, loops, robots, private addresses); a page's
 * canonical URL is its identity, so the same page under two URLs is one document.
 *
 * The crawl keeps a local copy under the source's directory: each page's body (by content hash)
 * and what a re-crawl needs (ETag, Last-Modified, links). A re-crawl asks conditionally
 * (`If-None-Match`, `If-Modified-Since`); a 304 reuses the copy and its links. The change token
 * is the content hash, so a page that comes back unchanged under a new ETag is still unchanged.
 * Pages that answer 404 or 410 are no longer listed (sync deletes them); a page that fails for a
 * while (timeout, 5xx) keeps its last copy rather than vanishing from the collection.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import robotsParserModule from "robots-parser";
import { decodeText } from "../extraction/decode_text.ts";
import { ExtractionError } from "../extraction/extraction_error.ts";
import { createPathFilter, type PathFilter } from "../extraction/path_filter.ts";
import type { Logger } from "../log/logger.ts";
import type {
  DocumentSource,
  EntryRef,
  ListSourceOptions,
  OpenEntryOptions,
  SourceEntry,
  SourceListing,
} from "./document_source.ts";
import type { HostPacer } from "./host_pacer.ts";
import { readPageLinks } from "./page_links.ts";
import { normalizePageUrl, WebScope } from "./page_url.ts";
import { parseSitemap } from "./sitemap.ts";
import { SourceError } from "./source_error.ts";
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_PAGES,
  type WebSourceConfig,
  webSourceSchema,
} from "./source_schemas.ts";
import { type FetchedResponse, FetchError, WebFetcher } from "./web_fetcher.ts";
import { readBounded } from "./_read_bounded.ts";

export interface WebSourceOptions {
  /** The source's own directory (`DATA_DIR/sources/<source id>`): the crawled copy lives in it. */
  directory: string;
  /** SOURCE_ALLOW_PRIVATE_NETWORKS. @default {false} */
  allowPrivateNetworks?: boolean;
  /** Larger pages are listed as skipped (MAX_FILE_SIZE_MB in bytes). @default {10485760} */
  maxPageBytes?: number;
  /** Time limit of one request, headers and body. @default {30000} */
  pageTimeoutMs?: number;
  /** Pause between requests to the host; robots.txt's Crawl-delay can lengthen it. @default {1000} */
  delayMs?: number;
  /** Longest Crawl-delay honoured. @default {30000} */
  maxCrawlDelayMs?: number;
  /** Redirect hops followed from one URL. @default {10} */
  maxRedirects?: number;
  /** @default {"SemantikBot/1.0"} */
  userAgent?: string;
  /** @default {the process's shared pacer} */
  pacer?: HostPacer;
  /** @default {A and AAAA records through Deno.resolveDns} */
  resolveHost?: (hostname: string) => Promise<string[]>;
  /** @default {isPublicAddress} */
  isAddressAllowed?: (address: string) => boolean;
  /** @default {none} */
  log?: Logger;
}

/** The change token of a web page: the SHA-256 of its body. */
export function contentChangeToken(sha256Hex: string): string {
  return `sha256:${sha256Hex}`;
}

/** What a re-crawl needs of a page fetched before, keyed by the URL that answered. */
interface PageRecord {
  /** The document's uri: the canonical URL when it lies in scope, else the URL fetched. */
  uri: string;
  etag?: string;
  lastModified?: string;
  contentHash: string;
  mimeType: string;
  size: number;
  links: string[];
  noindex: boolean;
  nofollow: boolean;
}

interface CrawlState {
  version: 1;
  /** The start URL the state belongs to. */
  url: string;
  pages: Record<string, PageRecord>;
}

type PageOutcome =
  | { kind: "page"; url: string; record: PageRecord }
  | { kind: "gone"; status: number }
  | { kind: "problem"; status: "skipped" | "failed"; reason: string; fetch?: FetchError };

const HTML_TYPES = new Set(["text/html", "application/xhtml+xml"]);
const TEXT_TYPES = new Set(["text/plain", "text/markdown", "text/x-markdown"]);
const PAGE_TYPES = new Set([...HTML_TYPES, ...TEXT_TYPES, "application/pdf"]);
/** Links to these are not pages: not fetched at all. */
const NOT_PAGES = new Set(
  ("png jpg jpeg gif webp svg ico bmp tif tiff avif css js mjs map woff woff2 ttf otf eot zip gz " +
    "tgz bz2 xz 7z rar tar dmg exe msi deb rpm iso mp3 mp4 m4a webm ogg wav avi mov mkv").split(
      " ",
    ),
);
/** What the crawl uses of a parsed robots.txt (npm robots-parser). */
interface Robots {
  isAllowed(url: string, userAgent?: string): boolean | undefined;
  getCrawlDelay(userAgent?: string): number | undefined;
  getSitemaps(): string[];
}
// The package's typings declare an ES default export its CommonJS module does not have.
const robotsParser = robotsParserModule as unknown as (url: string, text: string) => Robots;

const MAX_ROBOTS_BYTES = 512 * 1024;
const MAX_SITEMAPS = 20;
const STATE_FILE = "crawl.json";

export class WebSource implements DocumentSource {
  readonly type = "web";
  readonly #config: WebSourceConfig;
  readonly #options: WebSourceOptions;
  readonly #scope: WebScope;
  readonly #start: string;
  /** Include and exclude: which pages become documents. */
  readonly #listed: PathFilter;
  /** Exclude alone: which pages are not even fetched. */
  readonly #fetched: PathFilter;

  /** @throws {TypeError} for a config `webSourceSchema` refuses. */
  constructor(config: WebSourceConfig, options: WebSourceOptions) {
    const checked = webSourceSchema.safeParse(config);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new TypeError(
        `Cannot create web source: ${issue?.path.join(".") || "config"} ${issue?.message}`,
      );
    }
    this.#config = config;
    this.#options = options;
    this.#scope = new WebScope(config.url);
    this.#start = normalizePageUrl(config.url)!;
    this.#listed = createPathFilter({ include: config.include, exclude: config.exclude });
    this.#fetched = createPathFilter({ exclude: config.exclude });
  }

  /**
   * Crawls the site (conditionally where a copy exists) and lists its pages.
   *
   * @throws {SourceError} when the start page cannot be had (`not_found` for 404/410,
   * `not_allowed` for a refused address or robots.txt forbidding it, `unreachable` for network
   * trouble or a server error) or robots.txt answers with a server error (RFC 9309: crawl nothing).
   */
  async list(options: ListSourceOptions = {}): Promise<SourceListing> {
    const { signal, onProgress } = options;
    const o = this.#options;
    const maxPages = this.#config.max_pages ?? DEFAULT_MAX_PAGES;
    const maxDepth = this.#config.max_depth ?? DEFAULT_MAX_DEPTH;
    const maxBytes = o.maxPageBytes ?? 10 * 1024 * 1024;
    const fetcher = new WebFetcher({
      allowPrivateNetworks: o.allowPrivateNetworks,
      userAgent: o.userAgent,
      timeoutMs: o.pageTimeoutMs,
      delayMs: o.delayMs,
      pacer: o.pacer,
      resolveHost: o.resolveHost,
      isAddressAllowed: o.isAddressAllowed,
    });
    const previous = await this.#loadState();
    const next: CrawlState = { version: 1, url: this.#start, pages: {} };
    const stats = {
      pages: 0,
      fetched: 0,
      requests: 0,
      conditional_requests: 0,
      not_modified: 0,
      stale: 0,
      robots_disallowed: 0,
      duplicates: 0,
    };
    try {
      const robots = await this.#robots(fetcher, signal);
      const crawlDelay = robots?.getCrawlDelay(fetcher.userAgent);
      if (crawlDelay !== undefined && Number.isFinite(crawlDelay) && crawlDelay > 0) {
        fetcher.delayMs = Math.max(
          fetcher.delayMs,
          Math.min(crawlDelay * 1000, o.maxCrawlDelayMs ?? 30_000),
        );
      }
      const allowed = (url: string) => robots?.isAllowed(url, fetcher.userAgent) !== false;
      if (!allowed(this.#start)) {
        throw new SourceError(
          "not_allowed",
          `Cannot crawl ${this.#start}: robots.txt disallows it`,
        );
      }

      const frontier: { url: string; depth: number }[] = [];
      const queued = new Set<string>();
      const maxQueued = Math.max(10_000, maxPages * 20);
      const enqueue = (url: string, depth: number) => {
        if (depth > maxDepth || queued.has(url) || queued.size >= maxQueued) return;
        if (!this.#scope.contains(url)) return;
        queued.add(url);
        frontier.push({ url, depth });
      };
      enqueue(this.#start, 0);
      for (
        const url of await this.#sitemapPages(
          fetcher,
          robots?.getSitemaps() ?? [],
          maxBytes,
          signal,
        )
      ) {
        enqueue(url, 1);
      }

      const documents = new Map<string, SourceEntry>();
      for (let i = 0; i < frontier.length && stats.fetched < maxPages; i++) {
        signal?.throwIfAborted();
        const { url, depth } = frontier[i]!;
        if (!this.#fetched.includesFile(this.#scope.relativePath(url))) continue;
        if (NOT_PAGES.has(extensionOf(url))) continue;
        if (!allowed(url)) {
          stats.robots_disallowed++;
          continue;
        }
        stats.fetched++;
        const outcome = await this.#fetchPage(url, {
          fetcher,
          previous,
          allowed,
          maxBytes,
          signal,
          stats,
        });
        if (url === this.#start) this.#checkStart(outcome);
        if (outcome.kind === "gone") continue;
        if (outcome.kind === "problem") {
          if (!documents.has(url)) {
            documents.set(url, {
              kind: outcome.status,
              uri: url,
              path: this.#scope.relativePath(url),
              reason: outcome.reason,
            });
          }
          continue;
        }
        const { record } = outcome;
        next.pages[outcome.url] = record;
        queued.add(outcome.url);
        queued.add(record.uri);
        const path = this.#scope.relativePath(record.uri);
        if (documents.has(record.uri)) {
          stats.duplicates++;
        } else if (!record.noindex && this.#listed.includesFile(path)) {
          documents.set(record.uri, {
            kind: "file",
            uri: record.uri,
            path,
            changeToken: contentChangeToken(record.contentHash),
            size: record.size,
            mtimeMs: parseHttpDate(record.lastModified),
            mimeType: record.mimeType,
          });
        }
        if (!record.nofollow) { for (const link of record.links) enqueue(link, depth + 1); }
        if (stats.fetched % 10 === 0) onProgress?.(`Fetched ${stats.fetched} pages`);
      }
      await this.#saveState(next);
      const entries = [...documents.values()];
      stats.pages = entries.filter((e) => e.kind === "file").length;
      return { entries, stats: { ...stats, requests: fetcher.requests } };
    } finally {
      fetcher.close();
    }
  }

  async open(entry: EntryRef, options: OpenEntryOptions): Promise<Uint8Array> {
    const { maxBytes, signal } = options;
    signal?.throwIfAborted();
    const match = /^sha256:([0-9a-f]{64})$/.exec(entry.changeToken);
    if (!match) {
      throw new ExtractionError("failed", `not a web page's change token: ${entry.changeToken}`);
    }
    const path = join(this.#options.directory, "pages", match[1]!);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      throw new ExtractionError(
        "failed",
        "the page is no longer in the local copy (sync the source again)",
      );
    }
    if (info.size > maxBytes) {
      throw new ExtractionError(
        "skipped",
        `page is larger than the ${maxBytes} byte limit (MAX_FILE_SIZE_MB): ${info.size} bytes`,
      );
    }
    return await Deno.readFile(path, { signal });
  }

  async close(): Promise<void> {}

  /** The start page must be had: otherwise the listing would read as "every page deleted". */
  #checkStart(outcome: PageOutcome): void {
    const start = this.#start;
    if (outcome.kind === "gone") {
      throw new SourceError(
        "not_found",
        `Cannot crawl ${start}: the start page answers ${outcome.status}`,
      );
    }
    if (outcome.kind !== "problem") return;
    const code = outcome.fetch?.code === "refused"
      ? "not_allowed"
      : outcome.fetch === undefined || outcome.fetch.transient ||
          /HTTP 5\d\d|HTTP 429/.test(outcome.reason)
      ? "unreachable"
      : "invalid";
    throw new SourceError(code, `Cannot crawl ${start}: ${outcome.reason}`);
  }

  async #fetchPage(
    url: string,
    ctx: {
      fetcher: WebFetcher;
      previous: CrawlState | undefined;
      allowed: (url: string) => boolean;
      maxBytes: number;
      signal: AbortSignal | undefined;
      stats: { conditional_requests: number; not_modified: number; stale: number };
    },
  ): Promise<PageOutcome> {
    const { fetcher, previous, allowed, maxBytes, signal, stats } = ctx;
    const maxRedirects = this.#options.maxRedirects ?? 10;
    const chain = [url];
    let current = url;
    for (let hop = 0; hop <= maxRedirects; hop++) {
      const known = await this.#cached(previous?.pages[current]);
      const headers: Record<string, string> = {};
      if (known?.etag) headers["if-none-match"] = known.etag;
      if (known?.lastModified) headers["if-modified-since"] = known.lastModified;
      if (known && (known.etag || known.lastModified)) stats.conditional_requests++;
      let response: FetchedResponse;
      try {
        response = await fetcher.get(current, {
          headers,
          maxBytes,
          signal,
          readBody: (r) => r.ok && PAGE_TYPES.has(mediaType(r.headers)),
        });
      } catch (err) {
        if (!(err instanceof FetchError)) throw err;
        if (err.transient && known) {
          stats.stale++;
          this.#options.log?.warn("page unavailable, keeping its last copy", {
            url: current,
            reason: err.message,
          });
          return { kind: "page", url: current, record: known };
        }
        return {
          kind: "problem",
          status: err.transient ? "failed" : "skipped",
          reason: err.message,
          fetch: err,
        };
      }
      const { status } = response;
      if (status >= 300 && status < 400 && status !== 304) {
        const target = normalizePageUrl(response.headers.get("location") ?? "", current);
        if (target === undefined) {
          return {
            kind: "problem",
            status: "failed",
            reason: `HTTP ${status} without a usable Location`,
          };
        }
        if (chain.includes(target)) {
          return {
            kind: "problem",
            status: "failed",
            reason: `redirect loop: ${[...chain, target].join(" -> ")}`,
          };
        }
        if (!this.#scope.contains(target)) {
          return {
            kind: "problem",
            status: "skipped",
            reason: `redirects outside the crawl's scope, to ${target}`,
          };
        }
        if (!allowed(target)) {
          return {
            kind: "problem",
            status: "skipped",
            reason: `redirects to ${target}, which robots.txt disallows`,
          };
        }
        chain.push(target);
        current = target;
        continue;
      }
      if (status === 304 && known) {
        stats.not_modified++;
        return { kind: "page", url: current, record: known };
      }
      if (status === 404 || status === 410) return { kind: "gone", status };
      if (status >= 200 && status < 300) {
        return await this.#page(current, response, maxBytes);
      }
      const transient = status >= 500 || status === 429 || status === 408;
      if (transient && known) {
        stats.stale++;
        return { kind: "page", url: current, record: known };
      }
      return { kind: "problem", status: "failed", reason: `HTTP ${status}` };
    }
    return { kind: "problem", status: "failed", reason: `more than ${maxRedirects} redirects` };
  }

  /** A 2xx answer: keeps the body and reads what a re-crawl needs. */
  async #page(url: string, response: FetchedResponse, maxBytes: number): Promise<PageOutcome> {
    const mimeType = mediaType(response.headers);
    const body = response.body;
    if (!PAGE_TYPES.has(mimeType) || body === undefined) {
      return {
        kind: "problem",
        status: "skipped",
        reason: `not a page to index: ${mimeType === "" ? "no content type" : mimeType}`,
      };
    }
    if (body.length > maxBytes) {
      return {
        kind: "problem",
        status: "skipped",
        reason: `page is larger than the ${maxBytes} byte limit`,
      };
    }
    const contentHash = createHash("sha256").update(body).digest("hex");
    await this.#keepBody(contentHash, body);
    const robotsHeader = (response.headers.get("x-robots-tag") ?? "").toLowerCase();
    let links: string[] = [];
    let canonical: string | undefined;
    let noindex = /\b(noindex|none)\b/.test(robotsHeader);
    let nofollow = /\b(nofollow|none)\b/.test(robotsHeader);
    if (HTML_TYPES.has(mimeType)) {
      const page = readPageLinks(htmlText(body), url);
      links = page.links.filter((l) => this.#scope.contains(l));
      canonical = page.canonical;
      noindex ||= page.noindex;
      nofollow ||= page.nofollow;
    }
    const record: PageRecord = {
      uri: canonical !== undefined && this.#scope.contains(canonical) ? canonical : url,
      contentHash,
      mimeType,
      size: body.length,
      links,
      noindex,
      nofollow,
    };
    const etag = response.headers.get("etag");
    const lastModified = response.headers.get("last-modified");
    if (etag) record.etag = etag;
    if (lastModified) record.lastModified = lastModified;
    return { kind: "page", url, record };
  }

  /** The record when its body is still in the local copy (else it cannot answer a 304). */
  async #cached(record: PageRecord | undefined): Promise<PageRecord | undefined> {
    if (!record) return undefined;
    try {
      await Deno.stat(join(this.#options.directory, "pages", record.contentHash));
      return record;
    } catch {
      return undefined;
    }
  }

  async #keepBody(hash: string, body: Uint8Array): Promise<void> {
    const dir = join(this.#options.directory, "pages");
    await Deno.mkdir(dir, { recursive: true });
    const path = join(dir, hash);
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(temp, body);
    await Deno.rename(temp, path);
  }

  /** robots.txt of the start URL's origin: undefined when there is none (allow all). */
  async #robots(fetcher: WebFetcher, signal: AbortSignal | undefined): Promise<Robots | undefined> {
    const robotsUrl = new URL("/robots.txt", this.#start).href;
    let response: FetchedResponse | undefined;
    let current = robotsUrl;
    try {
      for (let hop = 0; hop <= 5; hop++) {
        response = await fetcher.get(current, {
          maxBytes: MAX_ROBOTS_BYTES,
          signal,
          readBody: (r) => r.ok,
        });
        const location = response.headers.get("location");
        if (response.status < 300 || response.status >= 400 || !location) break;
        current = normalizePageUrl(location, current) ?? current;
      }
    } catch (err) {
      if (!(err instanceof FetchError)) throw err;
      if (err.code === "too_large") return undefined;
      throw new SourceError(
        err.code === "refused" ? "not_allowed" : "unreachable",
        `Cannot crawl ${this.#start}: robots.txt could not be fetched (${err.message})`,
      );
    }
    if (!response) return undefined;
    if (response.status >= 500 || response.status === 429) {
      throw new SourceError(
        "unreachable",
        `Cannot crawl ${this.#start}: robots.txt answers ${response.status}, so nothing may be crawled for now`,
      );
    }
    if (!response.body || response.status >= 300) return undefined;
    return robotsParser(robotsUrl, new TextDecoder().decode(response.body));
  }

  /** Page URLs of the site's sitemaps (those robots.txt names, else /sitemap.xml), in scope. */
  async #sitemapPages(
    fetcher: WebFetcher,
    named: string[],
    maxBytes: number,
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const origin = new URL(this.#start);
    const pending = (named.length > 0 ? named : [new URL("/sitemap.xml", origin).href])
      .map((u) => normalizePageUrl(u))
      .filter((u): u is string => u !== undefined && new URL(u).host === origin.host);
    const seen = new Set<string>();
    const pages: string[] = [];
    while (pending.length > 0 && seen.size < MAX_SITEMAPS) {
      const url = pending.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      let response: FetchedResponse;
      try {
        response = await fetcher.get(url, { maxBytes, signal, readBody: (r) => r.ok });
      } catch (err) {
        if (!(err instanceof FetchError)) throw err;
        this.#options.log?.debug("sitemap not fetched", { url, reason: err.message });
        continue;
      }
      if (!response.body) continue;
      let xml = response.body;
      if (url.endsWith(".gz") || (xml[0] === 0x1f && xml[1] === 0x8b)) {
        xml = await gunzip(xml, maxBytes).catch(() => new Uint8Array());
      }
      const sitemap = parseSitemap(new TextDecoder().decode(xml));
      for (const p of sitemap.pages) {
        const u = normalizePageUrl(p);
        if (u !== undefined && this.#scope.contains(u)) pages.push(u);
      }
      for (const s of sitemap.sitemaps) {
        const u = normalizePageUrl(s);
        if (u !== undefined && new URL(u).host === origin.host) pending.push(u);
      }
    }
    return pages;
  }

  async #loadState(): Promise<CrawlState | undefined> {
    try {
      const state = JSON.parse(await Deno.readTextFile(join(this.#options.directory, STATE_FILE)));
      return state?.version === 1 && state.url === this.#start ? state as CrawlState : undefined;
    } catch {
      return undefined;
    }
  }

  /** Writes the state, then drops bodies no page refers to any more. */
  async #saveState(state: CrawlState): Promise<void> {
    const dir = this.#options.directory;
    await Deno.mkdir(dir, { recursive: true });
    const path = join(dir, STATE_FILE);
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temp, JSON.stringify(state));
    await Deno.rename(temp, path);
    const kept = new Set(Object.values(state.pages).map((p) => p.contentHash));
    try {
      for await (const e of Deno.readDir(join(dir, "pages"))) {
        if (!kept.has(e.name)) await Deno.remove(join(dir, "pages", e.name)).catch(() => {});
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

function extensionOf(url: string): string {
  const path = new URL(url).pathname;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

function htmlText(body: Uint8Array): string {
  try {
    return decodeText(body).text;
  } catch {
    return new TextDecoder().decode(body);
  }
}

function parseHttpDate(value: string | undefined): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** Inflates a gzipped sitemap, refusing one that inflates past `maxBytes` (a gzip bomb). */
async function gunzip(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  const out = await readBounded(stream, maxBytes);
  if (out === undefined) throw new RangeError("sitemap inflates past the page size limit");
  return out;
}
