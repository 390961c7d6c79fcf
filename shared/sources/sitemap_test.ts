import assert from "node:assert/strict";
import { parseSitemap } from "./sitemap.ts";

Deno.test("parseSitemap() reads a urlset's pages and a sitemap index's sitemaps", () => {
  const urlset = `<?xml version="1.0" encoding="UTF-8"?>
  <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <url><loc>https://d.test/a.html</loc><lastmod>2024-01-01</lastmod></url>
    <url>
      <loc> https://d.test/b?x=1&amp;y=2 </loc>
    </url>
    <url><loc><![CDATA[https://d.test/c.html]]></loc></url>
    <url><lastmod>no loc</lastmod></url>
  </urlset>`;
  assert.deepEqual(parseSitemap(urlset), {
    pages: ["https://d.test/a.html", "https://d.test/b?x=1&y=2", "https://d.test/c.html"],
    sitemaps: [],
  });
  const index = `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <sitemap><loc>https://d.test/sitemap-docs.xml</loc></sitemap>
    <SITEMAP><LOC>https://d.test/sitemap-blog.xml</LOC></SITEMAP>
  </sitemapindex>`;
  assert.deepEqual(parseSitemap(index), {
    pages: [],
    sitemaps: ["https://d.test/sitemap-docs.xml", "https://d.test/sitemap-blog.xml"],
  });
  assert.deepEqual(parseSitemap("not xml at all"), { pages: [], sitemaps: [] });
});
