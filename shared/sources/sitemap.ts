/**
 * The two sitemap forms of sitemaps.org: a `<urlset>` of pages and a `<sitemapindex>` of further
 * sitemaps, each URL in a `<loc>`. Read with a pattern rather than an XML parser: a sitemap is
 * flat, and a pattern cannot be led into entity expansion.
 */

export interface Sitemap {
  /** Page URLs (`<url><loc>`), as written. */
  pages: string[];
  /** Further sitemaps (`<sitemap><loc>`), as written. */
  sitemaps: string[];
}

const ENTRY = /<(url|sitemap)\b[^>]*>([\s\S]*?)<\/\1\s*>/gi;
const LOC = /<loc\b[^>]*>([\s\S]*?)<\/loc\s*>/i;
const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/** The page and sitemap URLs `xml` lists; anything else in it is ignored. */
export function parseSitemap(xml: string): Sitemap {
  const pages: string[] = [];
  const sitemaps: string[] = [];
  for (const [, kind, body] of xml.matchAll(ENTRY)) {
    const loc = LOC.exec(body!)?.[1];
    if (loc === undefined) continue;
    const url = decodeXml(loc.replace(/^\s*<!\[CDATA\[([\s\S]*)\]\]>\s*$/, "$1").trim());
    if (url === "") continue;
    (kind!.toLowerCase() === "url" ? pages : sitemaps).push(url);
  }
  return { pages, sitemaps };
}

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? whole;
  });
}
