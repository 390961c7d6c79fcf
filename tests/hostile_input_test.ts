// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Hostile input, each answered by a clear error that loses nothing: malformed and oversized
 * requests, wrong types, unknown fields, path traversal (`..`, absolute paths outside
 * DOCUMENT_ROOTS, symlinks out of them), SQL-looking names and queries, and a directory of hostile
 * files indexed end to end (binary, empty, invalid UTF-8, corrupt PDF, DOCX zip bomb, a link that
 * leads nowhere, an unreadable file, a FIFO, files over the size limit), and a file swapped for a
 * symlink out of DOCUMENT_ROOTS after the scan.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCollection } from "../api/collections/collections.ts";
import { search } from "../api/search/search.ts";
import { indexSources, type OperationRef, type OperationReporter } from "../worker/indexing/mod.ts";
import { startWorker } from "@semantik/worker";
import { OPERATION_MS, TINY_MODEL_NAME, waitFor } from "@semantik/shared/testing";
import { writeFixtureCorpus } from "./fixtures/corpus.ts";
import { createApiTestEnv } from "./helpers/api_env.ts";
import { withIndexingEnv, writeFiles } from "./indexing_env.ts";

const errorShape = (body: any) =>
  typeof body?.error?.code === "string" && typeof body?.error?.message === "string" &&
  body.error.message.length > 0;

Deno.test("hostile requests get clear errors, and nothing the user had is lost", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    const outside = await Deno.makeTempDir({ prefix: "semantik-outside-" });
    await Deno.symlink(outside, join(env.docs, "escape"));
    const kept = await env.call("POST", "/api/v2/collections", {
      token,
      body: { name: "keep me" },
    });
    assert.equal(kept.status, 201);

    const cases: [
      string,
      string,
      string,
      { body?: unknown; raw?: string; headers?: Record<string, string> },
      number,
      string,
    ][] = [
      [
        "malformed JSON",
        "POST",
        "/api/v2/collections",
        { raw: '{"name": "x",' },
        400,
        "invalid_request",
      ],
      [
        "JSON that is not an object",
        "POST",
        "/api/v2/collections",
        { raw: "[1,2,3]" },
        400,
        "invalid_request",
      ],
      ["a bare string", "POST", "/api/v2/collections", { raw: '"x"' }, 400, "invalid_request"],
      [
        "wrong types",
        "POST",
        "/api/v2/collections",
        { body: { name: 42, chunk_size: "200" } },
        400,
        "invalid_request",
      ],
      [
        "an unknown field",
        "POST",
        "/api/v2/collections",
        { body: { name: "x", admin: true } },
        400,
        "invalid_request",
      ],
      [
        "an unknown nested field",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: env.docs, recursive: false } },
        },
        400,
        "invalid_request",
      ],
      [
        "a control character in a name",
        "POST",
        "/api/v2/collections",
        { body: { name: "a\u0000b" } },
        400,
        "invalid_request",
      ],
      [
        "a huge body",
        "POST",
        "/api/v2/collections",
        {
          raw: JSON.stringify({ name: "x", description: "y".repeat(3 * 1024 * 1024) }),
        },
        413,
        "payload_too_large",
      ],
      [
        "a deeply nested body",
        "POST",
        "/api/v2/search",
        {
          raw: "[".repeat(20000) + "]".repeat(20000),
        },
        400,
        "invalid_request",
      ],
      [
        "a form instead of JSON",
        "POST",
        "/api/v2/collections",
        {
          raw: "name=x",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        },
        415,
        "invalid_request",
      ],
      [
        "a relative path",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: "docs" } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "../ out of the roots",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: `${env.docs}/../../../../etc` } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "an absolute path outside the roots",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: "/etc" } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "a symlink leading out of the roots",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: join(env.docs, "escape") } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "a path that does not exist",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: join(env.docs, "nope") } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "a file instead of a directory",
        "POST",
        "/api/v2/collections",
        {
          body: { name: "x", source: { type: "directory", path: "/etc/hostname" } },
        },
        422,
        "path_not_allowed",
      ],
      [
        "a blank query",
        "POST",
        "/api/v2/search",
        { body: { query: "   " } },
        400,
        "invalid_request",
      ],
      [
        "a query too long",
        "POST",
        "/api/v2/search",
        { body: { query: "q".repeat(1001) } },
        400,
        "invalid_request",
      ],
      [
        "k out of range",
        "POST",
        "/api/v2/search",
        { body: { query: "x", k: 1e9 } },
        400,
        "invalid_request",
      ],
      [
        "an id that is not a UUID",
        "GET",
        "/api/v2/collections/1%20or%201=1",
        {},
        400,
        "invalid_request",
      ],
      [
        "SQL in a cursor",
        "GET",
        "/api/v2/operations?cursor=%27%3B%20drop%20table%20users%3B--",
        {},
        400,
        "invalid_request",
      ],
      [
        "an unknown status filter",
        "GET",
        "/api/v2/operations?status=PENDING",
        {},
        400,
        "invalid_request",
      ],
    ];
    for (const [what, method, path, options, status, code] of cases) {
      const res = await env.call(method, path, { token, ...options });
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)?.slice(0, 300)}`);
      assert.ok(errorShape(res.body), `${what}: ${JSON.stringify(res.body)?.slice(0, 300)}`);
      assert.equal(res.body.error.code, code, what);
    }

    // SQL-looking names and queries are data, stored and returned as given.
    const sqlName = "'; drop table users; -- \" OR 1=1";
    const sql = await env.call("POST", "/api/v2/collections", { token, body: { name: sqlName } });
    assert.equal(sql.status, 201);
    assert.equal(sql.body.collection.name, sqlName);
    const search = await env.call("POST", "/api/v2/search", {
      token,
      body: {
        query: "' UNION SELECT password_hash FROM users --",
        filters: { path_prefix: "/'; --" },
      },
    });
    assert.equal(search.status, 200);

    // Nothing was lost: the user, their collections and the service are all still there.
    const list = await env.call("GET", "/api/v2/collections", { token });
    assert.deepEqual(
      list.body.collections.map((c: any) => c.name).sort(),
      [sqlName, "keep me"].sort(),
    );
    const [users] = await env.rt.db.query<{ n: number }>("select count(*) as n from users");
    assert.equal(users!.n, 1);
    assert.equal((await env.call("GET", "/healthz")).status, 200);
    await Deno.remove(outside, { recursive: true });
  } finally {
    await env.cleanup();
  }
});

Deno.test("a directory of hostile files indexes to completion with a clear status and reason per file", async () => {
  const base = await Deno.makeTempDir({ prefix: "semantik-hostile-" });
  // The corpus's root is the only document root: its symlink targets lie outside it.
  const corpus = await writeFixtureCorpus(base, { maxFileSizeBytes: 1024 * 1024 });
  const env = await createApiTestEnv({
    env: { MAX_FILE_SIZE_MB: "1", DOCUMENT_ROOTS: corpus.root },
  });
  try {
    await startWorker(env.rt);
    const { token } = await env.user();
    const created = await env.call("POST", "/api/v2/collections", {
      token,
      body: { name: "hostile", source: { type: "directory", path: corpus.root } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const opId = created.body.operation.id;
    const op = await waitFor("the operation to finish", async () => {
      const res = await env.call("GET", `/api/v2/operations/${opId}`, { token });
      return ["completed", "failed", "cancelled"].includes(res.body.status) ? res.body : undefined;
    }, { timeoutMs: OPERATION_MS });
    assert.equal(op.status, "completed", JSON.stringify(op));
    assert.equal(op.metadata.documents_processed, corpus.counts.completed);
    assert.equal(op.metadata.documents_skipped, corpus.counts.skipped);
    assert.equal(op.metadata.documents_failed, corpus.counts.failed);

    const docs: any[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await env.call(
        "GET",
        `/api/v2/collections/${created.body.collection.id}/documents?limit=100${q}`,
        { token },
      );
      docs.push(...page.body.documents);
      cursor = page.body.next_cursor;
    } while (cursor);
    const byUri = new Map(docs.map((d) => [d.uri, d]));
    for (const f of corpus.files) {
      if (f.expected.status === "ignored") {
        // Hidden files are not documents; a second link to a file is the same document.
        const sameFile = corpus.files.some((o) =>
          o !== f && o.uri === f.uri && o.expected.status !== "ignored"
        );
        if (!sameFile) assert.ok(!byUri.has(f.uri), `${f.path} should not be a document`);
        continue;
      }
      const d = byUri.get(f.uri);
      assert.ok(d, `${f.path} (${f.description}) is missing from the documents`);
      assert.equal(d.status, f.expected.status, `${f.path}: ${d.error}`);
      if (f.expected.status !== "completed") {
        assert.ok(d.error && d.error.length > 0, `${f.path} has no reason`);
        if (f.expected.reason) {
          assert.ok(d.error.includes(f.expected.reason), `${f.path}: ${d.error}`);
        }
      } else {
        assert.ok(d.chunk_count > 0, `${f.path} has no chunks`);
      }
    }
    const coll =
      (await env.call("GET", `/api/v2/collections/${created.body.collection.id}`, { token })).body;
    assert.equal(coll.status, "ready");
    assert.equal(coll.document_count, corpus.counts.completed);
    assert.equal(coll.chunk_count, coll.vector_count);
  } finally {
    await env.cleanup();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a file swapped for a symlink out of the roots between scan and extraction is skipped, never indexed nor found", async () => {
  await withIndexingEnv({ worker: false }, async (env) => {
    const src = await writeFiles(join(env.root, "src"), {
      "a.md": "Apple orchards bloom in spring, and the bees visit every blossom.",
      "b.md": "Bread rises slowly in a cold kitchen overnight.",
    });
    const outside = await writeFiles(join(env.dir, "outside"), {
      "secret.txt": "ZEBRAFISH launch codes: the outside secret that must never be indexed.",
    });
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "swapped",
        source: { type: "directory", path: src },
      },
    });
    const [op] = await env.db.db.query<OperationRef>(
      "select id, collection_id, config, metadata from operations where id = $1",
      [operation!.id],
    );
    // indexSources checks in after scanning each source and before each document: the first
    // check-in is after the scan listed b.md as a regular file and before anything is extracted.
    let swapped = false;
    const reporter: OperationReporter = {
      signal: new AbortController().signal,
      updateProgress() {},
      async checkpoint() {
        if (swapped) return;
        swapped = true;
        await Deno.remove(join(src, "b.md"));
        await Deno.symlink(join(outside, "secret.txt"), join(src, "b.md"));
      },
    };
    const deps = {
      db: env.db.db,
      vectors: env.vectors,
      models: env.models,
      documentRoots: env.config.documentRoots,
      maxFileSizeBytes: env.config.maxFileSizeBytes,
    };
    const summary = await indexSources(deps, { reporter, op: op! });
    assert.ok(swapped, "the swap step never ran");
    assert.equal(summary.documents_processed, 1);
    assert.equal(summary.documents_skipped, 1);

    const docs = await env.db.db.query<{ uri: string; status: string; error: string | null }>(
      "select uri, status, error from documents where collection_id = $1 order by uri",
      [collection.id],
    );
    assert.deepEqual(docs, [
      { uri: join(src, "a.md"), status: "completed", error: null },
      { uri: join(src, "b.md"), status: "skipped", error: "link leaving the roots" },
    ]);
    const leaked = await env.db.db.query<{ text: string }>(
      "select text from chunks where collection_id = $1 and text like '%ZEBRAFISH%'",
      [collection.id],
    );
    assert.deepEqual(leaked, []);
    const { results } = await search({
      db: env.db.db,
      vectors: env.vectors,
      defaultEmbeddingModel: TINY_MODEL_NAME,
      embedQuery: async (model, text) =>
        (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
    }, {
      userId: env.userId,
      request: {
        query: "ZEBRAFISH launch codes outside secret",
        collection_ids: [collection.id],
        k: 100,
      },
    });
    assert.ok(results.length > 0, "search found nothing at all: the check below would be empty");
    assert.ok(
      results.every((r) => !r.text.includes("ZEBRAFISH")),
      `search returned the outside file: ${JSON.stringify(results.map((r) => r.text))}`,
    );
  });
});

Deno.test("files whose names are not valid UTF-8 are indexed under distinct uris", async () => {
  await withIndexingEnv({}, async (env) => {
    const src = await writeFiles(join(env.root, "src"), {
      "a%FFb.txt": "A valid name holding a percent sign: tulips and daffodils.",
    });
    // Two names that differ only in a byte that is not UTF-8: Deno shows both as "a\uFFFDb.txt".
    for (
      const [byte, text] of [["377", "Bees dance in the hive."], ["376", "Volcanoes spit ash."]]
    ) {
      const out = await new Deno.Command("sh", {
        args: ["-c", `printf '%s' "$2" > "$(printf "a\\\\$1b.txt")"`, "sh", byte!, text!],
        cwd: src,
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    }
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "raw names",
        source: { type: "directory", path: src },
      },
    });
    const op = await env.waitForOperation(operation!.id);
    assert.equal(op.status, "completed", op.error_message ?? "");
    const docs = await env.db.db.query<{ uri: string; status: string; error: string | null }>(
      "select uri, status, error from documents where collection_id = $1 order by uri",
      [collection.id],
    );
    assert.deepEqual(docs, [
      { uri: `${src}/a%25FFb.txt`, status: "completed", error: null },
      { uri: `${src}/a%FEb.txt`, status: "completed", error: null },
      { uri: `${src}/a%FFb.txt`, status: "completed", error: null },
    ]);
    const chunks = await env.db.db.query<{ uri: string; text: string }>(
      `select d.uri, c.text from chunks c join documents d on d.id = c.document_id
        where c.collection_id = $1 order by d.uri`,
      [collection.id],
    );
    assert.deepEqual(chunks.map((c) => [c.uri.slice(src.length + 1), c.text]), [
      ["a%25FFb.txt", "A valid name holding a percent sign: tulips and daffodils."],
      ["a%FEb.txt", "Volcanoes spit ash."],
      ["a%FFb.txt", "Bees dance in the hive."],
    ]);
    const counts = await env.counts(collection.id);
    assert.equal(counts.vectors, 3);
  });
});
