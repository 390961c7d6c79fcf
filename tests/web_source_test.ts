/**
 * Web sources against a site the test serves on loopback: robots.txt, a sitemap, redirects, a
 * redirect loop, a 404, a page that vanishes and one that changes between syncs, a slow page,
 * a page that trickles, 20 MB pages, a canonical duplicate, a PDF. The server counts what it was
 * asked (conditional requests, bytes it produced), so the tests see the crawl's manners.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  diffEntries,
  type SourceEntry,
  type SourceFile,
} from "../shared/sources/document_source.ts";
import { extractEntry } from "../shared/sources/extract_entry.ts";
import { HostPacer } from "../shared/sources/host_pacer.ts";
import { isPublicAddress } from "../shared/sources/private_address.ts";
import { SourceError } from "../shared/sources/source_error.ts";
import type { WebSourceConfig } from "../shared/sources/source_schemas.ts";
import { WebSource, type WebSourceOptions } from "../shared/sources/web_source.ts";
import { makePdf } from "./fixtures/pdf.ts";

const MB = 1024 * 1024;
const PAGE_TIMEOUT_MS = 2000;

interface SiteCounters {
  /** Requests by path. */
  hits: Map<string, number>;
  /** Requests that carried If-None-Match or If-Modified-Since, by path. */
  conditional: Map<string, number>;
  notModified: number;
  /** Body bytes the 20 MB pages produced (pulled by the client). */
  hugeBytes: number;
  inFlight: number;
  maxInFlight: number;
}

interface Site {
  origin: string;
  counters: SiteCounters;
  /** Page bodies by path; a test changes them between syncs (undefined: 404). */
  pages: Map<
    string,
    { body: string | Uint8Array; type: string; validator: "etag" | "last-modified" } | undefined
  >;
  /** Paths answering 503 for now. */
  failing: Set<string>;
  /** Paths answering 302 to another path. */
  redirects: Map<string, string>;
  robots: { status: number; text: string };
  /** Called with each request's path before it is answered. */
  onRequest?: (path: string) => void;
  resetCounters(): void;
  close(): Promise<void>;
}

const html = (title: string, body = "", head = "") =>
  `<!doctype html><html><head><title>${title}</title>${head}</head><body><h1>${title}</h1>${body}</body></html>`;
const links = (...hrefs: string[]) => hrefs.map((h) => `<a href="${h}">${h}</a>`).join("\n");

function startSite(): Promise<Site> {
  const counters: SiteCounters = {
    hits: new Map(),
    conditional: new Map(),
    notModified: 0,
    hugeBytes: 0,
    inFlight: 0,
    maxInFlight: 0,
  };
  const pages: Site["pages"] = new Map();
  const failing = new Set<string>();
  const redirects = new Map<string, string>();
  const robots = { status: 200, text: "" };
  const ac = new AbortController();
  const lastModified = new Date(Date.UTC(2024, 0, 1)).toUTCString();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const path = url.pathname;
      counters.hits.set(path, (counters.hits.get(path) ?? 0) + 1);
      site.onRequest?.(path);
      if (req.headers.has("if-none-match") || req.headers.has("if-modified-since")) {
        counters.conditional.set(path, (counters.conditional.get(path) ?? 0) + 1);
      }
      counters.inFlight++;
      counters.maxInFlight = Math.max(counters.maxInFlight, counters.inFlight);
      try {
        return await respond(req, path);
      } finally {
        counters.inFlight--;
      }
    },
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;

  async function respond(req: Request, path: string): Promise<Response> {
    if (path === "/robots.txt") return new Response(robots.text, { status: robots.status });
    if (failing.has(path)) return new Response("busy", { status: 503 });
    const location = redirects.get(path);
    if (location) return new Response(null, { status: 302, headers: { location } });
    switch (path) {
      case "/docs/moved.html":
        return new Response(null, { status: 301, headers: { location: "b-new.html" } });
      case "/docs/loop1.html":
        return new Response(null, { status: 302, headers: { location: "/docs/loop2.html" } });
      case "/docs/loop2.html":
        return new Response(null, { status: 302, headers: { location: "/docs/loop1.html" } });
      case "/docs/away.html":
        return new Response(null, { status: 302, headers: { location: "http://other.test/x" } });
      case "/docs/slow.html":
        // Never answers; ends when the client gives up.
        await new Promise((resolve) => req.signal.addEventListener("abort", resolve));
        return new Response("too late");
      case "/docs/trickle.html": {
        let timer: ReturnType<typeof setInterval> | undefined;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("<html><body>"));
            timer = setInterval(() => {
              try {
                controller.enqueue(new TextEncoder().encode("."));
              } catch {
                clearInterval(timer);
              }
            }, 50);
          },
          cancel() {
            clearInterval(timer);
          },
        });
        req.signal.addEventListener("abort", () => clearInterval(timer));
        return new Response(body, { headers: { "content-type": "text/html" } });
      }
      case "/docs/huge.html":
      case "/docs/huge-declared.html": {
        const total = 20 * MB;
        let sent = 0;
        const chunk = new TextEncoder().encode("<p>" + "x".repeat(64 * 1024 - 7) + "</p>\n");
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= total) return controller.close();
            const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
            sent += piece.length;
            counters.hugeBytes += piece.length;
            controller.enqueue(piece);
          },
        }, { highWaterMark: 0 });
        const headers: Record<string, string> = { "content-type": "text/html" };
        if (path === "/docs/huge-declared.html") headers["content-length"] = String(total);
        return new Response(body, { headers });
      }
    }
    const page = pages.get(path);
    if (page === undefined) return new Response("not found", { status: 404 });
    const bytes = typeof page.body === "string" ? new TextEncoder().encode(page.body) : page.body;
    const headers: Record<string, string> = { "content-type": page.type };
    if (page.validator === "etag") {
      const etag = `"${createHash("sha1").update(bytes).digest("hex")}"`;
      headers.etag = etag;
      if (req.headers.get("if-none-match") === etag) {
        counters.notModified++;
        return new Response(null, { status: 304, headers });
      }
    } else {
      // Changes are made to ETag pages only, so one date is true for these.
      headers["last-modified"] = lastModified;
      if (req.headers.get("if-modified-since") === lastModified) {
        counters.notModified++;
        return new Response(null, { status: 304, headers });
      }
    }
    return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
  }

  const site: Site = {
    origin,
    counters,
    pages,
    failing,
    redirects,
    robots,
    resetCounters() {
      counters.hits.clear();
      counters.conditional.clear();
      counters.notModified = 0;
      counters.hugeBytes = 0;
      counters.maxInFlight = 0;
    },
    async close() {
      ac.abort();
      await server.finished;
    },
  };
  return Promise.resolve(site);
}

/** The documentation site most tests crawl, starting at `/docs/`. */
async function docsSite(): Promise<Site> {
  const site = await startSite();
  const o = site.origin;
  site.robots.text = `User-agent: *\nDisallow: /docs/private/\nSitemap: ${o}/sitemap.xml\n`;
  const page = (body: string, validator: "etag" | "last-modified" = "etag") => ({
    body,
    type: "text/html; charset=utf-8",
    validator,
  });
  site.pages.set(
    "/sitemap.xml",
    {
      body: `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <url><loc>${o}/docs/orphan.html</loc></url>
        <url><loc>${o}/docs/a.html</loc></url>
        <url><loc>${o}/elsewhere/x.html</loc></url>
      </urlset>`,
      type: "application/xml",
      validator: "etag",
    },
  );
  site.pages.set(
    "/docs/",
    page(html(
      "Docs home",
      links(
        "a.html",
        "b.html#section",
        "private/secret.html",
        "moved.html",
        "loop1.html",
        "missing.html",
        "slow.html",
        "trickle.html",
        "huge.html",
        "huge-declared.html",
        "vanishing.html",
        "changing.html",
        "dup.html",
        "away.html",
        "/outside.html",
        "logo.png",
        "manual.pdf",
        "deep/1.html",
        "mailto:docs@example.com",
      ),
    )),
  );
  site.pages.set("/docs/a.html", page(html("Alpha page", `<p>alpha words</p>${links("./")}`)));
  site.pages.set("/docs/b.html", page(html("Bravo page", "<p>bravo words</p>"), "last-modified"));
  site.pages.set("/docs/b-new.html", page(html("Bravo moved", "<p>moved words</p>")));
  site.pages.set("/docs/vanishing.html", page(html("Vanishing", "<p>here today</p>")));
  site.pages.set("/docs/changing.html", page(html("Changing", "<p>first version</p>")));
  site.pages.set(
    "/docs/dup.html",
    page(
      html("Alpha again", "<p>alpha words</p>", `<link rel="canonical" href="${o}/docs/a.html">`),
    ),
  );
  site.pages.set("/docs/orphan.html", page(html("Orphan", "<p>only the sitemap knows me</p>")));
  site.pages.set("/docs/private/secret.html", page(html("Secret")));
  site.pages.set("/outside.html", page(html("Outside")));
  site.pages.set("/elsewhere/x.html", page(html("Elsewhere")));
  for (let i = 1; i <= 5; i++) {
    site.pages.set(`/docs/deep/${i}.html`, page(html(`Level ${i}`, links(`${i + 1}.html`))));
  }
  site.pages.set("/docs/manual.pdf", {
    body: await makePdf(["The manual explains the flux capacitor."]),
    type: "application/pdf",
    validator: "etag",
  });
  return site;
}

async function withSite(
  make: () => Promise<Site>,
  fn: (site: Site, dir: string) => Promise<void>,
): Promise<void> {
  const site = await make();
  const dir = await Deno.makeTempDir({ prefix: "web_source_test_" });
  try {
    await fn(site, dir);
  } finally {
    await site.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function webSource(
  dir: string,
  config: Omit<WebSourceConfig, "type">,
  options: Partial<WebSourceOptions> = {},
): WebSource {
  return new WebSource({ type: "web", ...config }, {
    directory: join(dir, "state"),
    allowPrivateNetworks: true,
    delayMs: 1,
    pageTimeoutMs: PAGE_TIMEOUT_MS,
    maxPageBytes: MB,
    pacer: new HostPacer(),
    ...options,
  });
}

const files = (entries: readonly SourceEntry[]) =>
  entries.filter((e): e is SourceFile => e.kind === "file");
const tokens = (entries: readonly SourceEntry[]) =>
  new Map(files(entries).map((e) => [e.uri, e.changeToken]));
const problems = (entries: readonly SourceEntry[]) =>
  Object.fromEntries(
    entries.flatMap((e) => e.kind === "file" ? [] : [[e.path, `${e.kind}: ${e.reason}`]]),
  );

Deno.test("WebSource crawls a site politely: robots.txt, sitemap, redirects, loops, 404s, limits, canonical duplicates; a re-sync asks conditionally and sees exactly what changed", async () => {
  await withSite(docsSite, async (site, dir) => {
    const o = site.origin;
    const s = webSource(dir, { url: `${o}/docs/`, max_depth: 3 });
    const one = await s.list();

    const listed = files(one.entries).map((e) => e.path).sort();
    assert.deepEqual(listed, [
      "",
      "a.html",
      "b-new.html",
      "b.html",
      "changing.html",
      "deep/1.html",
      "deep/2.html",
      "deep/3.html",
      "manual.pdf",
      "orphan.html",
      "vanishing.html",
    ]);
    const p = problems(one.entries);
    assert.deepEqual(Object.keys(p).sort(), [
      "away.html",
      "huge-declared.html",
      "huge.html",
      "loop1.html",
      "slow.html",
      "trickle.html",
    ]);
    assert.match(
      p["loop1.html"]!,
      /^failed: redirect loop: .*loop1\.html -> .*loop2\.html -> .*loop1\.html$/,
    );
    assert.match(
      p["away.html"]!,
      /^skipped: redirects outside the crawl's scope, to http:\/\/other\.test\/x$/,
    );
    assert.match(p["slow.html"]!, new RegExp(`^failed: no answer within ${PAGE_TIMEOUT_MS} ms$`));
    assert.match(
      p["trickle.html"]!,
      new RegExp(`^failed: no answer within ${PAGE_TIMEOUT_MS} ms$`),
    );
    assert.match(p["huge.html"]!, /^skipped: page is larger than the 1048576 byte limit$/);
    assert.match(
      p["huge-declared.html"]!,
      /^skipped: page is larger than the 1048576 byte limit: 20971520 bytes$/,
    );
    // Streamed with a cap: the 20 MB pages cost a few pieces past the limit, not 40 MB.
    assert.ok(
      site.counters.hugeBytes < 8 * MB,
      `the huge pages produced ${site.counters.hugeBytes} bytes`,
    );

    const hits = site.counters.hits;
    for (
      const never of [
        "/docs/private/secret.html",
        "/outside.html",
        "/elsewhere/x.html",
        "/docs/logo.png",
        "/docs/deep/4.html",
      ]
    ) {
      assert.equal(hits.get(never), undefined, `${never} was requested`);
    }
    assert.equal(hits.get("/robots.txt"), 1);
    assert.equal(hits.get("/sitemap.xml"), 1);
    assert.equal(hits.get("/docs/a.html"), 1, "a page linked twice is fetched once");
    assert.equal(hits.get("/docs/missing.html"), 1);
    assert.equal(site.counters.maxInFlight, 1, "one request at a time");

    // The canonical duplicate is one document: a.html, with a.html's content.
    const a = files(one.entries).find((e) => e.path === "a.html")!;
    assert.equal(a.uri, `${o}/docs/a.html`);
    assert.equal(files(one.entries).filter((e) => e.uri === a.uri).length, 1);
    assert.equal(one.stats.duplicates, 1);
    assert.equal(one.stats.robots_disallowed, 1);
    // The redirect's target is the document, under its own URL.
    assert.ok(files(one.entries).some((e) => e.uri === `${o}/docs/b-new.html`));
    assert.ok(!one.entries.some((e) => e.uri === `${o}/docs/moved.html`));

    // open() gives the bytes fetched; extraction takes HTML by its declared type, PDF by content.
    const home = files(one.entries).find((e) => e.path === "")!;
    assert.equal(home.mimeType, "text/html");
    const homeText = await extractEntry(s, home, { maxBytes: MB });
    assert.match(homeText.text, /^# Docs home/);
    const pdf = files(one.entries).find((e) => e.path === "manual.pdf")!;
    assert.match((await extractEntry(s, pdf, { maxBytes: MB })).text, /flux capacitor/);
    assert.equal(
      new TextDecoder().decode(await s.open(a, { maxBytes: MB })),
      site.pages.get("/docs/a.html")!.body,
    );

    // Between syncs: one page vanishes, one changes.
    site.pages.set("/docs/vanishing.html", undefined);
    site.pages.set("/docs/changing.html", {
      body: html("Changing", "<p>second version</p>"),
      type: "text/html",
      validator: "etag",
    });
    site.resetCounters();
    const two = await s.list();
    const changes = diffEntries(tokens(one.entries), files(two.entries));
    assert.deepEqual(changes.deleted, [`${o}/docs/vanishing.html`]);
    assert.deepEqual(changes.modified, [`${o}/docs/changing.html`]);
    assert.deepEqual(changes.added, []);
    assert.equal(changes.unchanged.length, 9);
    assert.deepEqual(problems(two.entries), p);

    // Every page fetched with validators last time was asked conditionally.
    assert.deepEqual(
      [...site.counters.conditional.keys()].sort(),
      [
        "/docs/",
        "/docs/a.html",
        "/docs/b-new.html",
        "/docs/b.html",
        "/docs/changing.html",
        "/docs/deep/1.html",
        "/docs/deep/2.html",
        "/docs/deep/3.html",
        "/docs/dup.html",
        "/docs/manual.pdf",
        "/docs/orphan.html",
        "/docs/vanishing.html",
        "/sitemap.xml",
      ].filter((x) => x !== "/sitemap.xml"),
    );
    // All but the vanished (404) and the changed (200) page answered 304.
    assert.equal(site.counters.notModified, 10);
    assert.equal(two.stats.not_modified, 10);
    const changed = files(two.entries).find((e) => e.path === "changing.html")!;
    assert.match((await extractEntry(s, changed, { maxBytes: MB })).text, /second version/);
  });
});

Deno.test("WebSource fetches at most max_pages pages and follows links at most max_depth deep", async () => {
  await withSite(docsSite, async (site, dir) => {
    const s = webSource(dir, { url: `${site.origin}/docs/deep/1.html`, max_pages: 3 });
    const l = await s.list();
    const pageRequests = [...site.counters.hits.entries()]
      .filter(([path]) => path !== "/robots.txt" && path !== "/sitemap.xml")
      .reduce((n, [, c]) => n + c, 0);
    assert.equal(pageRequests, 3);
    assert.equal(l.stats.fetched, 3);

    site.resetCounters();
    const shallow = webSource(join(dir, "d0"), {
      url: `${site.origin}/docs/deep/1.html`,
      max_depth: 0,
    });
    const d0 = await shallow.list();
    assert.deepEqual(files(d0.entries).map((e) => e.path), ["1.html"]);
    assert.equal(site.counters.hits.get("/docs/deep/2.html"), undefined);
  });
});

Deno.test("WebSource applies include and exclude globs to the page path: excluded pages are not fetched, pages not included are fetched for links only", async () => {
  await withSite(docsSite, async (site, dir) => {
    const s = webSource(dir, {
      url: `${site.origin}/docs/`,
      include: ["deep/**"],
      exclude: ["*.pdf", "slow.html", "trickle.html", "huge*.html", "vanishing.html"],
      max_depth: 2,
    });
    const l = await s.list();
    assert.deepEqual(files(l.entries).map((e) => e.path).sort(), ["deep/1.html", "deep/2.html"]);
    for (
      const path of [
        "/docs/manual.pdf",
        "/docs/slow.html",
        "/docs/huge.html",
        "/docs/vanishing.html",
      ]
    ) {
      assert.equal(site.counters.hits.get(path), undefined, path);
    }
    assert.equal(site.counters.hits.get("/docs/"), 1);
  });
});

Deno.test("WebSource keeps a page's last copy while it answers 503, and honours meta robots noindex", async () => {
  await withSite(docsSite, async (site, dir) => {
    site.pages.set("/docs/orphan.html", {
      body: html("Hidden", "<p>not for search</p>", `<meta name="robots" content="noindex">`),
      type: "text/html",
      validator: "etag",
    });
    const s = webSource(dir, { url: `${site.origin}/docs/a.html`, max_depth: 1 });
    const one = await s.list();
    // orphan.html (from the sitemap) was fetched, but asks not to be indexed.
    assert.equal(site.counters.hits.get("/docs/orphan.html"), 1);
    assert.deepEqual(files(one.entries).map((e) => e.path).sort(), ["", "a.html"]);
    site.failing.add("/docs/a.html");
    // With a copy, the start page's last copy stands in while it fails.
    const kept = await s.list();
    assert.equal(kept.stats.stale, 1);
    assert.deepEqual([...tokens(kept.entries)], [...tokens(one.entries)]);
    // Without one (a worker that never crawled it), the crawl fails rather than list nothing.
    await assert.rejects(
      webSource(join(dir, "fresh"), { url: `${site.origin}/docs/a.html` }).list(),
      (err: unknown) =>
        err instanceof SourceError && err.code === "unreachable" && /HTTP 503/.test(err.message),
    );
    site.failing.clear();

    const t = webSource(join(dir, "t"), {
      url: `${site.origin}/docs/`,
      max_depth: 1,
      exclude: ["slow.html", "trickle.html"],
    });
    const before = await t.list();
    site.failing.add("/docs/b.html");
    const after = await t.list();
    // b.html answers 503: its last copy stays, unchanged, instead of vanishing.
    const changes = diffEntries(tokens(before.entries), files(after.entries));
    assert.deepEqual(changes.unchanged.length, files(before.entries).length);
    assert.deepEqual([changes.added, changes.modified, changes.deleted], [[], [], []]);
    assert.equal(after.stats.stale, 1);
    assert.ok(files(after.entries).some((e) => e.path === "b.html"));
  });
});

Deno.test("WebSource fetches pages whole again when its local copy lost their bodies, instead of trusting a 304 it cannot serve", async () => {
  await withSite(docsSite, async (site, dir) => {
    const s = webSource(dir, { url: `${site.origin}/docs/a.html`, max_depth: 0 });
    const one = await s.list();
    await Deno.remove(join(dir, "state", "pages"), { recursive: true });
    site.resetCounters();
    const two = await s.list();
    assert.equal(site.counters.conditional.size, 0);
    assert.equal(site.counters.notModified, 0);
    assert.deepEqual([...tokens(two.entries)], [...tokens(one.entries)]);
    const a = files(two.entries)[0]!;
    assert.match((await extractEntry(s, a, { maxBytes: MB })).text, /alpha words/);
  });
});

Deno.test("WebSource fails clearly when robots.txt answers 5xx, the start page is gone or disallowed, or the host is down", async () => {
  await withSite(docsSite, async (site, dir) => {
    site.robots.status = 503;
    await assert.rejects(webSource(dir, { url: `${site.origin}/docs/` }).list(), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.equal(err.code, "unreachable");
      assert.match(err.message, /robots\.txt answers 503/);
      return true;
    });
    assert.equal(site.counters.hits.get("/docs/"), undefined, "nothing crawled");
    site.robots.status = 404;
    await assert.rejects(
      webSource(dir, { url: `${site.origin}/docs/missing.html` }).list(),
      (err: unknown) => err instanceof SourceError && err.code === "not_found",
    );
    site.robots.status = 200;
    await assert.rejects(
      webSource(dir, { url: `${site.origin}/docs/private/` }).list(),
      (err: unknown) =>
        err instanceof SourceError && err.code === "not_allowed" && /robots\.txt/.test(err.message),
    );
  });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      webSource(dir, { url: `http://127.0.0.1:${port}/docs/` }).list(),
      (err: unknown) => err instanceof SourceError && err.code === "unreachable",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WebSource refuses loopback and private addresses by default, without sending a request", async () => {
  await withSite(docsSite, async (site, dir) => {
    const port = new URL(site.origin).port;
    for (
      const url of [
        `${site.origin}/docs/`,
        `http://localhost:${port}/docs/`,
        `http://[::1]:${port}/docs/`,
      ]
    ) {
      await assert.rejects(
        webSource(dir, { url }, { allowPrivateNetworks: false }).list(),
        (err: unknown) => {
          assert.ok(err instanceof SourceError, String(err));
          assert.equal(err.code, "not_allowed");
          assert.match(
            err.message,
            /loopback or private-network address .*SOURCE_ALLOW_PRIVATE_NETWORKS/,
          );
          return true;
        },
        url,
      );
    }
    assert.equal(site.counters.hits.size, 0);
  });
});

Deno.test("WebSource checks every resolved address at every hop and connects to the address it checked", async () => {
  await withSite(docsSite, async (site, dir) => {
    const port = new URL(site.origin).port;
    let rebound = false;
    // Names only this resolver knows: a request can reach the site only through the address
    // the check approved. "docs.example.test" rebinds to a private address once asked to.
    const names: Record<string, () => string[]> = {
      "docs.example.test": () => (rebound ? ["10.0.0.7"] : ["127.0.0.1"]),
      "mixed.example.test": () => ["127.0.0.1", "192.168.1.20"],
    };
    const options: Partial<WebSourceOptions> = {
      allowPrivateNetworks: false,
      resolveHost: (host) => Promise.resolve(names[host]?.() ?? []),
      // The test's stand-in for a public address.
      isAddressAllowed: (a) => a === "127.0.0.1" || isPublicAddress(a),
    };
    site.robots.text = "";
    site.pages.set("/docs/rebind.html", {
      body: html("Rebind", links("after.html")),
      type: "text/html",
      validator: "etag",
    });
    site.pages.set("/docs/after.html", {
      body: html("After"),
      type: "text/html",
      validator: "etag",
    });
    site.onRequest = (path) => {
      if (path === "/docs/rebind.html" || path === "/docs/hop.html") rebound = true;
    };
    const base = `http://docs.example.test:${port}/docs`;
    const l = await webSource(dir, { url: `${base}/rebind.html` }, options).list();
    // Reached by a name no system resolver knows: the connection went to the checked address.
    assert.deepEqual(files(l.entries).map((e) => e.uri), [`${base}/rebind.html`]);
    assert.deepEqual(problems(l.entries), {
      "after.html":
        "skipped: docs.example.test resolves to 10.0.0.7, a loopback or private-network address " +
        "(allowed only with SOURCE_ALLOW_PRIVATE_NETWORKS=true)",
    });
    assert.equal(site.counters.hits.get("/docs/after.html"), undefined);

    // A redirect hop is checked like a first request.
    rebound = false;
    site.redirects.set("/docs/hop.html", "/docs/after.html");
    const hop = webSource(join(dir, "hop"), { url: `${base}/hop.html` }, options);
    site.onRequest = (path) => {
      if (path === "/docs/hop.html") rebound = true;
    };
    await assert.rejects(hop.list(), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.code, "not_allowed");
      assert.match(err.message, /resolves to 10\.0\.0\.7/);
      return true;
    });
    assert.equal(site.counters.hits.get("/docs/hop.html"), 1);
    assert.equal(site.counters.hits.get("/docs/after.html"), undefined);

    await assert.rejects(
      webSource(join(dir, "m"), { url: `http://mixed.example.test:${port}/` }, options).list(),
      (err: unknown) =>
        err instanceof SourceError && err.code === "not_allowed" &&
        /192\.168\.1\.20/.test(err.message),
    );
  });
});

Deno.test("WebSource refuses a config the schema refuses", () => {
  assert.throws(
    () => new WebSource({ type: "web", url: "file:///etc/" }, { directory: "/nonexistent" }),
    /Cannot create web source: url must be an http:\/\/ or https:\/\/ URL/,
  );
});
