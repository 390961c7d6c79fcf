/**
 * Page URLs as a crawl compares them, and the scope of a web source: the start URL's host and
 * path prefix.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The normalised form of `url` (resolved against `base`): http(s) only, no credentials, no
 * fragment, an empty query dropped, percent-escapes in upper case and unreserved characters
 * unescaped; the URL parser already lowercases the host, drops the default port and resolves
 * `.` and `..`. Undefined for what a crawl cannot fetch (mailto:, javascript:, malformed).
 */
export function normalizePageUrl(url: string, base?: string | URL): string | undefined {
  let u: URL;
  try {
    u = new URL(url.trim(), base);
  } catch {
    return undefined;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
  if (u.username !== "" || u.password !== "" || u.hostname === "") return undefined;
  u.hash = "";
  u.pathname = normalizeEscapes(u.pathname);
  // An empty query reads as "" but is kept in href ("p?") until it is set.
  if (u.search === "") u.search = "";
  else u.search = normalizeEscapes(u.search);
  return u.href;
}

function normalizeEscapes(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/**
 * The pages a web source may take: same host (and port) as the start URL, http or https, and a
 * path under the start URL's prefix. The prefix is the start path when it ends with `/` or names
 * a directory (`/docs` covers `/docs` and `/docs/...`, not `/docs-old`); the start path's
 * directory when it names a file (`/docs/index.html` covers `/docs/...`).
 */
export class WebScope {
  readonly hostname: string;
  readonly port: string;
  /** Always ends with `/`. */
  readonly prefix: string;
  /** The start path itself when it names a directory without a trailing slash. */
  readonly #exact: string | undefined;

  constructor(startUrl: string) {
    const normalised = normalizePageUrl(startUrl);
    if (normalised === undefined) {
      throw new TypeError(`Cannot crawl ${JSON.stringify(startUrl)}: not an http(s) URL`);
    }
    const u = new URL(normalised);
    this.hostname = u.hostname;
    this.port = u.port;
    const path = u.pathname;
    const slash = path.lastIndexOf("/");
    const last = path.slice(slash + 1);
    if (path.endsWith("/")) {
      this.prefix = path;
    } else if (last.includes(".")) {
      this.prefix = path.slice(0, slash + 1);
    } else {
      this.prefix = `${path}/`;
      this.#exact = path;
    }
  }

  /** Whether the (normalised) `url` lies in the scope. */
  contains(url: string): boolean {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return false;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return false;
    if (u.hostname !== this.hostname || u.port !== this.port) return false;
    return u.pathname === this.#exact || u.pathname.startsWith(this.prefix);
  }

  /**
   * The page's path relative to the prefix (decoded, no leading `/`): what include and exclude
   * globs match. The prefix itself is `""`.
   */
  relativePath(url: string): string {
    const path = new URL(url).pathname;
    const rest = path === this.#exact ? "" : path.slice(this.prefix.length);
    try {
      return decodeURIComponent(rest);
    } catch {
      return rest;
    }
  }
}
