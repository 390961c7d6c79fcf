/**
 * Git and web sources end to end, through the collection functions the API routes call and an
 * in-process worker: a Git repository made here, served over file:// and over smart HTTPS
 * (`git http-backend`), commits that add, modify, rename and delete files, a force-pushed branch,
 * a wrong token; a local web site with robots.txt and a sitemap whose pages change and vanish;
 * and one collection mixing a directory, a Git repository and a web site through index, sync,
 * reindex and remove-source.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  addSource,
  createCollection,
  deleteCollection,
  getCollection,
  reindexCollection,
  removeSource,
  syncCollection,
} from "../api/collections/collections.ts";
import { search } from "../api/search/search.ts";
import { sourceStateDir } from "@semantik/shared";
import { TINY_MODEL_NAME } from "@semantik/shared/testing";
import { buildHandlers } from "@semantik/worker";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";
import { git, TestRepo } from "./helpers/git_repo.ts";
import { makeTestCertificate, startGitHttpServer } from "./helpers/git_http_server.ts";

const TOKEN = "tok_5e4d3c2b1a-collection-secret";

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Line ${i} on ${topic}, with a few more words.`).join("\n\n");

/** Every chunk text search returns for `query` (k covers the whole collection). */
async function found(env: IndexingEnv, collectionId: string, query: string): Promise<string[]> {
  const { results } = await search({
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text) =>
      (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
  }, {
    userId: env.userId,
    request: { query, collection_ids: [collectionId], k: 100, mode: "dense" },
  });
  return results.map((r) => r.text);
}

const has = async (env: IndexingEnv, id: string, marker: string) =>
  (await found(env, id, marker)).some((t) => t.includes(marker));

/** The uris of the collection's indexed documents, sorted. */
async function liveUris(env: IndexingEnv, collectionId: string): Promise<string[]> {
  const rows = await env.db.db.query<{ uri: string }>(
    "select uri from documents where collection_id = $1 and status = 'completed' order by uri",
    [collectionId],
  );
  return rows.map((r) => r.uri);
}

/** Syncs and returns [added, modified, deleted, processed, total] of the completed operation. */
async function sync(env: IndexingEnv, collectionId: string): Promise<number[]> {
  const op = await syncCollection(env.deps, { userId: env.userId, collectionId });
  const done = await env.waitForOperation(op.id);
  assert.equal(done.status, "completed", done.error_message ?? "");
  const m = done.metadata as Record<string, number>;
  return [m.added!, m.modified!, m.deleted!, m.documents_processed!, m.documents_total!];
}

async function assertCountsAgree(env: IndexingEnv, collectionId: string, documents: number) {
  const counts = await env.counts(collectionId);
  assert.equal(counts.documents, documents);
  assert.equal(counts.vectors, counts.chunks);
  assert.equal(counts.chunkCountSum, counts.chunks);
}

Deno.test("a Git source over file:// is indexed at its commit; sync applies added, modified, renamed and deleted files, then a force-pushed branch", async () => {
  await withIndexingEnv({}, async (env) => {
    const repo = await TestRepo.create(join(env.root, "repo"));
    const first = await repo.commit({
      "keep.md": para("keeping", 3),
      "modify.md": para("changing", 2) + "\n\nThe OLDMARKER sentence goes away soon.",
      "delete.md": para("deleting", 2),
      "rename-from.md": para("moving", 2),
    });
    const url = `file://${repo.dir}`;
    const uri = (path: string) => `${url}@main:${path}`;
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "git",
        source: { type: "git", url },
      },
    });
    const indexed = await env.waitForOperation(operation!.id);
    assert.equal(indexed.status, "completed", indexed.error_message ?? "");
    assert.deepEqual(
      await liveUris(env, collection.id),
      [uri("delete.md"), uri("keep.md"), uri("modify.md"), uri("rename-from.md")],
    );
    const sourceJson = async () =>
      (await getCollection(env.deps, { userId: env.userId, collectionId: collection.id }))
        .sources[0]!;
    let s = await sourceJson();
    assert.equal(s.type, "git");
    assert.ok(s.type === "git");
    assert.deepEqual(
      [s.url, s.ref, s.resolved_ref, s.revision, s.has_token],
      [url, null, "main", first, false],
    );
    assert.ok(await has(env, collection.id, "OLDMARKER"));

    const second = await repo.commit({
      "added.md": para("adding", 2),
      "modify.md": para("changing", 2) + "\n\nA NEWMARKER sentence replaced it.",
      "delete.md": null,
      "sub/rename-to.md": { from: "rename-from.md" },
    });
    assert.deepEqual(await sync(env, collection.id), [2, 1, 2, 3, 4]);
    assert.deepEqual(
      await liveUris(env, collection.id),
      [uri("added.md"), uri("keep.md"), uri("modify.md"), uri("sub/rename-to.md")],
    );
    // The unchanged file cost nothing: its row is the first operation's still.
    const [keep] = await env.db.db.query<{ indexed_by: string }>(
      "select indexed_by from documents where collection_id = $1 and uri = $2",
      [collection.id, uri("keep.md")],
    );
    assert.equal(keep!.indexed_by, operation!.id);
    assert.ok(!await has(env, collection.id, "OLDMARKER"), "removed text is no longer found");
    assert.ok(await has(env, collection.id, "NEWMARKER"));
    s = await sourceJson();
    assert.ok(s.type === "git");
    assert.equal(s.revision, second);
    await assertCountsAgree(env, collection.id, 4);

    // A force push: main rewound to the first commit, then a different commit on top.
    await git(repo.dir, "reset", "--quiet", "--hard", first);
    const third = await repo.commit({ "keep.md": para("rewritten", 3) });
    // delete.md and rename-from.md are back, added.md and sub/rename-to.md gone, modify.md and
    // keep.md differ from what the second commit had.
    assert.deepEqual(await sync(env, collection.id), [2, 2, 2, 4, 4]);
    assert.deepEqual(
      await liveUris(env, collection.id),
      [uri("delete.md"), uri("keep.md"), uri("modify.md"), uri("rename-from.md")],
    );
    assert.ok(await has(env, collection.id, "OLDMARKER"));
    assert.ok(!await has(env, collection.id, "NEWMARKER"));
    s = await sourceJson();
    assert.ok(s.type === "git");
    assert.equal(s.revision, third);
    await assertCountsAgree(env, collection.id, 4);
  });
});

Deno.test("a Git source over smart HTTPS with a token: sealed, shown as has_token only, indexed and synced; a wrong token fails the operation without the token in its message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "semantik-git-http-" });
  const tls = await makeTestCertificate(dir);
  const repo = await TestRepo.create(join(dir, "served", "docs"));
  await repo.commit({ "guide.md": para("guiding", 2), "notes.md": para("noting", 2) });
  const server = startGitHttpServer({
    projectRoot: join(dir, "served"),
    ...tls,
    credentials: { username: "x-access-token", password: TOKEN },
  });
  try {
    await withIndexingEnv({
      registry: (ctx) =>
        buildHandlers(ctx, { sources: { gitEnv: { GIT_SSL_CAINFO: tls.certPath } } }),
    }, async (env) => {
      const url = `${server.origin}/docs`;
      const { collection, operation } = await createCollection(env.deps, {
        userId: env.userId,
        input: {
          name: "https",
          source: { type: "git", url, token: TOKEN },
        },
      });
      assert.ok(!JSON.stringify(collection).includes(TOKEN));
      assert.equal(collection.sources[0]!.has_token, true);
      const indexed = await env.waitForOperation(operation!.id);
      assert.equal(indexed.status, "completed", indexed.error_message ?? "");
      assert.deepEqual(await liveUris(env, collection.id), [
        `${url}@main:guide.md`,
        `${url}@main:notes.md`,
      ]);
      const [row] = await env.db.db.query<{ token_sealed: string }>(
        "select token_sealed from collection_sources where collection_id = $1",
        [collection.id],
      );
      assert.match(row!.token_sealed, /^v1\./);
      assert.ok(!row!.token_sealed.includes(TOKEN));
      assert.ok(
        !JSON.stringify(
          await getCollection(env.deps, { userId: env.userId, collectionId: collection.id }),
        ).includes(TOKEN),
      );

      await repo.commit({ "notes.md": para("noting", 2) + "\n\nThe FRESHMARKER line." });
      assert.deepEqual(await sync(env, collection.id), [0, 1, 0, 1, 2]);
      assert.ok(await has(env, collection.id, "FRESHMARKER"));

      const wrong = "wrong-token-5f5f5f5f";
      const other = await createCollection(env.deps, {
        userId: env.userId,
        input: {
          name: "wrong",
          source: { type: "git", url, token: wrong },
        },
      });
      const failed = await env.waitForOperation(other.operation!.id);
      assert.equal(failed.status, "failed");
      assert.match(failed.error_message ?? "", /refused the credentials/);
      const [op] = await env.db.db.query<Record<string, unknown>>(
        "select * from operations where id = $1",
        [failed.id],
      );
      assert.ok(!JSON.stringify(op).includes(wrong), "the token appears nowhere in the operation");
      assert.deepEqual(await liveUris(env, other.collection.id), []);
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

interface Site {
  origin: string;
  pages: Map<string, string>;
  /** Requests per path; conditional ones (If-None-Match); 304 answers. */
  hits: Map<string, number>;
  conditional: Map<string, number>;
  notModified: number;
  close(): Promise<void>;
}

/** A small site: robots.txt (disallowing /docs/private/), a sitemap, pages with ETags. */
function startSite(): Site {
  const ac = new AbortController();
  const site: Site = {
    origin: "",
    pages: new Map(),
    hits: new Map(),
    conditional: new Map(),
    notModified: 0,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      bump(site.hits, path);
      if (path === "/robots.txt") {
        return new Response(
          `User-agent: *\nDisallow: /docs/private/\nSitemap: ${site.origin}/sitemap.xml\n`,
        );
      }
      if (path === "/sitemap.xml") {
        const urls = ["/docs/", "/docs/a.html", "/docs/gone.html"]
          .map((p) => `<url><loc>${site.origin}${p}</loc></url>`).join("");
        return new Response(
          `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${urls}</urlset>`,
          { headers: { "content-type": "application/xml" } },
        );
      }
      const body = site.pages.get(path);
      if (body === undefined) return new Response("not found", { status: 404 });
      const digest = new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)),
      );
      const etag = `"${Array.from(digest.slice(0, 8), (b) => b.toString(16)).join("")}"`;
      const inm = req.headers.get("if-none-match");
      if (inm !== null) bump(site.conditional, path);
      if (inm === etag) {
        site.notModified++;
        return new Response(null, { status: 304, headers: { etag } });
      }
      return new Response(body, { headers: { "content-type": "text/html", etag } });
    },
  );
  site.origin = `http://127.0.0.1:${server.addr.port}`;
  return site;
}

const html = (title: string, text: string, links: string[] = []) =>
  `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p>${
    links.map((l) => `<a href="${l}">${l}</a>`).join(" ")
  }</body></html>`;

/** Makes a site's pages: an index linking a, b and a disallowed page; gone via the sitemap. */
function fillSite(site: Site): void {
  site.pages.set(
    "/docs/",
    html("Index", para("the index", 2), ["a.html", "b.html", "private/s.html"]),
  );
  site.pages.set("/docs/a.html", html("Alpha", para("alpha pages", 3)));
  site.pages.set("/docs/b.html", html("Beta", para("beta pages", 2) + " BETAOLD marker."));
  site.pages.set("/docs/gone.html", html("Gone", para("leaving", 2) + " VANISHING text."));
  site.pages.set("/docs/private/s.html", html("Private", "SECRETPAGE"));
}

const fastWeb = (ctx: Parameters<typeof buildHandlers>[0]) =>
  buildHandlers(ctx, { sources: { webDelayMs: 0 } });

Deno.test("a web source: robots.txt and the sitemap obeyed; a page that vanishes is deleted, one that changes is modified; the second crawl asks conditionally", async () => {
  const site = startSite();
  fillSite(site);
  try {
    await withIndexingEnv({
      env: { SOURCE_ALLOW_PRIVATE_NETWORKS: "true" },
      registry: fastWeb,
    }, async (env) => {
      const start = `${site.origin}/docs/`;
      const { collection, operation } = await createCollection(env.deps, {
        userId: env.userId,
        input: {
          name: "web",
          source: { type: "web", url: start },
        },
      });
      const s = collection.sources[0]!;
      assert.ok(s.type === "web");
      assert.deepEqual([s.url, s.max_pages, s.max_depth, s.has_token], [start, 1000, 5, false]);
      const indexed = await env.waitForOperation(operation!.id);
      assert.equal(indexed.status, "completed", indexed.error_message ?? "");
      assert.deepEqual(await liveUris(env, collection.id), [
        start,
        `${start}a.html`,
        `${start}b.html`,
        `${start}gone.html`,
      ]);
      assert.equal(site.hits.get("/docs/private/s.html"), undefined, "robots.txt disallows it");
      assert.equal(site.hits.get("/sitemap.xml"), 1);
      assert.ok(await has(env, collection.id, "VANISHING"));
      assert.equal(site.notModified, 0);

      site.pages.delete("/docs/gone.html");
      site.pages.set("/docs/b.html", html("Beta", para("beta pages", 2) + " BETANEW marker."));
      assert.deepEqual(await sync(env, collection.id), [0, 1, 1, 1, 3]);
      // The unchanged pages were asked for with their ETags and answered 304.
      assert.equal(site.conditional.get("/docs/"), 1);
      assert.equal(site.conditional.get("/docs/a.html"), 1);
      assert.equal(site.notModified, 2);
      assert.deepEqual(await liveUris(env, collection.id), [
        start,
        `${start}a.html`,
        `${start}b.html`,
      ]);
      assert.ok(!await has(env, collection.id, "VANISHING"));
      assert.ok(!await has(env, collection.id, "BETAOLD"));
      assert.ok(await has(env, collection.id, "BETANEW"));
      await assertCountsAgree(env, collection.id, 3);
    });
  } finally {
    await site.close();
  }
});

Deno.test("one collection mixes a directory, a Git repository and a web site: index, sync, reindex and remove-source each work", async () => {
  const site = startSite();
  fillSite(site);
  try {
    await withIndexingEnv({
      env: { SOURCE_ALLOW_PRIVATE_NETWORKS: "true" },
      registry: fastWeb,
    }, async (env) => {
      const dir = await writeFiles(join(env.root, "dir"), { "local.md": para("DIRMARKER", 2) });
      const repo = await TestRepo.create(join(env.root, "repo"));
      await repo.commit({ "repo.md": para("GITMARKER", 2) });
      const gitUrl = `file://${repo.dir}`;
      const { collection, operation } = await createCollection(env.deps, {
        userId: env.userId,
        input: {
          name: "mixed",
          source: { type: "directory", path: dir },
        },
      });
      const wait = async (id: string) => {
        const done = await env.waitForOperation(id);
        assert.equal(done.status, "completed", done.error_message ?? "");
        return done;
      };
      await wait(operation!.id);
      const git = await addSource(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        source: {
          type: "git",
          url: gitUrl,
        },
      });
      await wait(git.operation.id);
      const web = await addSource(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        source: {
          type: "web",
          url: `${site.origin}/docs/`,
          max_pages: 10,
          exclude: ["gone.html", "b.html"],
        },
      });
      await wait(web.operation.id);
      const json = await getCollection(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
      });
      assert.deepEqual(json.sources.map((s) => s.type), ["directory", "git", "web"]);
      // The web site gives the start page and a.html (b.html and gone.html are excluded).
      assert.deepEqual(
        await liveUris(env, collection.id),
        [
          `${site.origin}/docs/`,
          `${site.origin}/docs/a.html`,
          `${gitUrl}@main:repo.md`,
          join(dir, "local.md"),
        ].sort(),
      );
      for (const marker of ["DIRMARKER", "GITMARKER", "alpha pages"]) {
        assert.ok(await has(env, collection.id, marker), marker);
      }

      // One change in each source, one sync.
      await writeFiles(dir, { "local.md": para("DIRMARKER", 2) + "\n\nDIRNEW" });
      await repo.commit({ "repo.md": para("GITMARKER", 2) + "\n\nGITNEW" });
      site.pages.set("/docs/", html("Index", para("the index", 2) + " WEBNEW", ["a.html"]));
      assert.deepEqual(await sync(env, collection.id), [0, 3, 0, 3, 4]);
      for (const marker of ["DIRNEW", "GITNEW", "WEBNEW"]) {
        assert.ok(await has(env, collection.id, marker), marker);
      }

      // Reindex re-reads Git and web documents from their local copies; a worker without the
      // clone (here: removed) makes it first.
      const clone = sourceStateDir(env.config.dataDir, git.source.id);
      await Deno.remove(clone, { recursive: true });
      const hitsBefore = site.hits.get("/docs/")!;
      const re = await reindexCollection(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        input: { chunk_size: 64 },
      });
      await wait(re.id);
      assert.equal(site.hits.get("/docs/"), hitsBefore, "no request during a reindex");
      await assertCountsAgree(env, collection.id, 4);
      for (const marker of ["DIRNEW", "GITNEW", "WEBNEW"]) {
        assert.ok(await has(env, collection.id, marker), marker);
      }

      // Removing the Git source removes its documents and its clone; the others stay.
      assert.ok((await Deno.stat(clone)).isDirectory);
      const removed = await removeSource(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        sourceId: git.source.id,
      });
      await wait(removed.id);
      await assert.rejects(Deno.stat(clone), Deno.errors.NotFound);
      assert.ok(!await has(env, collection.id, "GITNEW"));
      assert.ok(await has(env, collection.id, "DIRNEW"));
      assert.ok(await has(env, collection.id, "WEBNEW"));
      await assertCountsAgree(env, collection.id, 3);

      // Deleting the collection removes the remaining sources' local copies.
      const crawl = sourceStateDir(env.config.dataDir, web.source.id);
      assert.ok((await Deno.stat(crawl)).isDirectory);
      await wait(
        (await deleteCollection(env.deps, { userId: env.userId, collectionId: collection.id })).id,
      );
      await assert.rejects(Deno.stat(crawl), Deno.errors.NotFound);
    });
  } finally {
    await site.close();
  }
});
