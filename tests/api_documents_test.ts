// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Issue 26, documents and sources: a document's content (text and chunk offsets that match the
 * stored chunks), retrying a failed document after its file is fixed (one, then every failed),
 * and the source preview's exact counts and skip reasons.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { OperationRow } from "@semantik/shared";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { makePdf } from "./fixtures/pdf.ts";
import { createApiTestEnv } from "./helpers/api_env.ts";

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Line ${i} on ${topic}, with a few more words.`).join("\n\n");

Deno.test("document content, and retry of failed documents after their files are fixed", async () => {
  const env = await createApiTestEnv();
  try {
    const db = env.rt.db;
    await startWorker(env.rt, {
      overrides: { queueOptions: { blockMs: 200, delayedPollMs: 100 } },
    });
    const me = await env.user();
    const other = await env.user();
    const dir = join(env.docs, "docs");
    await Deno.mkdir(dir);
    const goodText = `# Title\n\n${para("gardens", 12)}\n\n  Indented tail line.\n`;
    await Deno.writeTextFile(join(dir, "good.md"), goodText);
    await Deno.writeFile(
      join(dir, "paged.pdf"),
      await makePdf(["First page about rivers and boats.", "Second page about mountains."]),
    );
    await Deno.writeTextFile(join(dir, "broken.pdf"), "%PDF-1.4 this is not really a pdf");
    await Deno.writeTextFile(join(dir, "broken2.pdf"), "%PDF-1.4 neither is this one");

    const created = await env.call("POST", "/api/v2/collections", {
      token: me.token,
      body: {
        name: "docs",
        chunk_size: 24,
        chunk_overlap: 4,
        source: { type: "directory", path: dir },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id: string = created.body.collection.id;
    const row = async (opId: string) =>
      (await db.query<OperationRow>("select * from operations where id = $1", [opId]))[0]!;
    const finished = (opId: string) =>
      waitFor(`operation ${opId} to finish`, async () => {
        const r = await row(opId);
        return ["completed", "failed", "cancelled"].includes(r.status) ? r : undefined;
      }, { timeoutMs: OPERATION_MS, seen: async () => (await row(opId)).status });
    assert.equal((await finished(created.body.operation.id)).status, "completed");
    const docs = async () =>
      new Map(
        (await db.query<{ id: string; uri: string; status: string; chunk_count: number }>(
          "select id, uri, status, chunk_count from documents where collection_id = $1",
          [id],
        )).map((d) => [d.uri.slice(d.uri.lastIndexOf("/") + 1), d]),
      );
    let byName = await docs();
    assert.equal(byName.get("good.md")!.status, "completed");
    assert.equal(byName.get("broken.pdf")!.status, "failed");
    assert.equal(byName.get("broken2.pdf")!.status, "failed");
    const storedChunks = (docId: string) =>
      db.query<{ ordinal: number; text: string; start_offset: number; end_offset: number }>(
        "select ordinal, text, start_offset, end_offset from chunks where document_id = $1 order by ordinal",
        [docId],
      );
    const content = (docId: string, token = me.token) =>
      env.call("GET", `/api/v2/collections/${id}/documents/${docId}/content`, { token });

    // Content: the text as extracted (the file is unchanged), every chunk's offsets slice out
    // exactly its stored text.
    const good = byName.get("good.md")!;
    const c1 = await content(good.id);
    assert.equal(c1.status, 200, JSON.stringify(c1.body));
    assert.equal(c1.body.document.id, good.id);
    assert.equal(c1.body.text_source, "extracted");
    assert.equal(c1.body.text, goodText);
    const stored = await storedChunks(good.id);
    assert.ok(stored.length >= 3, `several chunks, got ${stored.length}`);
    assert.equal(c1.body.chunks.length, good.chunk_count);
    assert.deepEqual(
      c1.body.chunks.map((c: any) => c1.body.text.slice(c.start, c.end)),
      stored.map((s) => s.text),
    );
    assert.deepEqual(c1.body.chunks.map((c: any) => c.index), stored.map((s) => s.ordinal));
    // A PDF's chunks say their page.
    const paged = await content(byName.get("paged.pdf")!.id);
    assert.equal(paged.status, 200);
    assert.deepEqual([...new Set(paged.body.chunks.map((c: any) => c.page))], [1, 2]);
    const onPage = (page: number) =>
      paged.body.chunks.filter((c: any) => c.page === page)
        .map((c: any) => paged.body.text.slice(c.start, c.end)).join(" ");
    assert.match(onPage(1), /rivers.*boats/s);
    assert.doesNotMatch(onPage(1), /mountains/);
    assert.match(onPage(2), /Second page about mountains/);
    // Once the file changed, the text is rebuilt from the chunks: still the same slices.
    await Deno.writeTextFile(join(dir, "good.md"), "Something else entirely.");
    const c2 = await content(good.id);
    assert.equal(c2.body.text_source, "chunks");
    assert.deepEqual(
      c2.body.chunks.map((c: any) => c2.body.text.slice(c.start, c.end)),
      stored.map((s) => s.text),
    );
    assert.equal(c2.body.text.replace(/\s+/g, " ").trim(), goodText.replace(/\s+/g, " ").trim());
    // A failed document has no chunks and no text.
    const failedContent = await content(byName.get("broken.pdf")!.id);
    assert.deepEqual([failedContent.body.text, failedContent.body.chunks], ["", []]);
    // Not mine, not in the collection, not a uuid.
    assert.equal((await content(good.id, other.token)).status, 403);
    assert.equal((await content(crypto.randomUUID())).status, 404);
    assert.equal((await content("nope")).status, 400);

    // Retry one failed document after fixing its file: only it is indexed again.
    const broken = byName.get("broken.pdf")!;
    await Deno.writeFile(
      join(dir, "broken.pdf"),
      await makePdf(["Repaired page about lighthouses."]),
    );
    const retryPath = `/api/v2/collections/${id}/documents/${broken.id}/retry`;
    assert.equal((await env.call("POST", retryPath, { token: other.token })).status, 403);
    assert.equal(
      (await env.call("POST", `/api/v2/collections/${id}/documents/${crypto.randomUUID()}/retry`, {
        token: me.token,
      })).status,
      404,
    );
    const retried = await env.call("POST", retryPath, { token: me.token });
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    assert.equal(retried.body.operation.type, "index");
    // The collection is busy meanwhile: a second retry is a conflict.
    const busy = await env.call("POST", retryPath, { token: me.token });
    if ((await row(retried.body.operation.id)).status !== "completed") {
      assert.equal(busy.status, 409);
    }
    const done = await finished(retried.body.operation.id);
    assert.equal(done.status, "completed", done.error_message ?? "");
    const m = done.metadata as Record<string, unknown>;
    assert.deepEqual(
      [m.documents_total, m.documents_processed, m.documents_failed],
      [1, 1, 0],
    );
    byName = await docs();
    assert.equal(byName.get("broken.pdf")!.status, "completed");
    assert.ok(byName.get("broken.pdf")!.chunk_count > 0);
    assert.equal(byName.get("broken2.pdf")!.status, "failed");
    // good.md changed on disk but was not part of the retry: its chunks are as they were.
    assert.deepEqual(await storedChunks(good.id), stored);

    // Retry every failed document: broken2, once fixed.
    await Deno.writeFile(
      join(dir, "broken2.pdf"),
      await makePdf(["Second repair about harbours."]),
    );
    const all = await env.call("POST", `/api/v2/collections/${id}/documents/retry-failed`, {
      token: me.token,
    });
    assert.equal(all.status, 202, JSON.stringify(all.body));
    const allDone = await finished(all.body.operation.id);
    assert.equal(allDone.status, "completed", allDone.error_message ?? "");
    assert.deepEqual(
      [(allDone.metadata as any).documents_total, (allDone.metadata as any).documents_processed],
      [1, 1],
    );
    assert.equal((await docs()).get("broken2.pdf")!.status, "completed");
    // Nothing failed is left: 409.
    const nothing = await env.call("POST", `/api/v2/collections/${id}/documents/retry-failed`, {
      token: me.token,
    });
    assert.equal(nothing.status, 409, JSON.stringify(nothing.body));
    assert.equal(nothing.body.error.code, "conflict");
    assert.equal(
      (await env.call("POST", `/api/v2/collections/${id}/documents/retry-failed`, {
        token: other.token,
      })).status,
      403,
    );

    // A completed document whose file is unchanged is indexed again when retried.
    const pagedDoc = (await docs()).get("paged.pdf")!;
    const again = await env.call(
      "POST",
      `/api/v2/collections/${id}/documents/${pagedDoc.id}/retry`,
      { token: me.token },
    );
    assert.equal(again.status, 202, JSON.stringify(again.body));
    const againDone = await finished(again.body.operation.id);
    assert.equal(againDone.status, "completed", againDone.error_message ?? "");
    assert.deepEqual(
      [
        (againDone.metadata as any).documents_total,
        (againDone.metadata as any).documents_processed,
      ],
      [1, 1],
    );
    const [indexedBy] = await db.query<{ indexed_by: string }>(
      "select indexed_by from documents where id = $1",
      [pagedDoc.id],
    );
    assert.equal(indexedBy!.indexed_by, again.body.operation.id);
  } finally {
    await env.cleanup();
  }
});

Deno.test("source preview counts files and bytes by extension and lists what the scan skips, with reasons", async () => {
  // 0.001 MiB = 1049 bytes.
  const env = await createApiTestEnv({ env: { MAX_FILE_SIZE_MB: "0.001" } });
  const outside = await Deno.makeTempDir({ prefix: "semantik-outside-" });
  try {
    const me = await env.user();
    const dir = await Deno.realPath(
      await Deno.mkdir(join(env.docs, "preview")).then(() => join(env.docs, "preview")),
    );
    const files: Record<string, string> = {
      "a.md": "alpha",
      "B.MD": "bravo bravo",
      "sub/c.txt": "charlie",
      "sub/README": "no extension",
      "sub/deep/d.txt": "delta delta delta",
      ".hidden.md": "not walked",
      "skip.log": "excluded by glob",
      "big.txt": "x".repeat(2000),
    };
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(dir, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, name), text);
    }
    await Deno.writeTextFile(join(outside, "secret.txt"), "outside the roots");
    await Deno.symlink(join(outside, "secret.txt"), join(dir, "escape.txt"));
    const fifo = new Deno.Command("mkfifo", { args: [join(dir, "pipe.txt")] });
    assert.equal((await fifo.output()).code, 0);

    const r = await env.call("POST", "/api/v2/sources/preview", {
      token: me.token,
      body: { source: { type: "directory", path: dir, exclude: ["*.log"] } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const len = (s: string) => new TextEncoder().encode(s).length;
    assert.equal(r.body.files, 5);
    assert.equal(
      r.body.bytes,
      ["a.md", "B.MD", "sub/c.txt", "sub/README", "sub/deep/d.txt"].reduce(
        (n, f) => n + len(files[f]!),
        0,
      ),
    );
    assert.deepEqual(r.body.by_extension, {
      ".md": { files: 2, bytes: len("alpha") + len("bravo bravo") },
      ".txt": { files: 2, bytes: len("charlie") + len("delta delta delta") },
      "": { files: 1, bytes: len("no extension") },
    });
    const skipped = [...r.body.skipped].sort((a: any, b: any) => a.uri.localeCompare(b.uri));
    assert.deepEqual(skipped, [
      {
        uri: join(dir, "big.txt"),
        reason: "file is larger than the 1049 byte limit (MAX_FILE_SIZE_MB): 2000 bytes",
      },
      { uri: join(dir, "escape.txt"), reason: "symbolic link leads outside DOCUMENT_ROOTS" },
      { uri: join(dir, "pipe.txt"), reason: "not a regular file (FIFO, socket or device)" },
    ]);
    // Nothing was indexed or recorded.
    const [n] = await env.rt.db.query<{ n: number }>("select count(*)::int as n from documents");
    assert.equal(n!.n, 0);

    const cases: [unknown, number, string][] = [
      [{}, 400, "invalid_request"],
      [{ source: { type: "directory" } }, 400, "invalid_request"],
      [{ source: { type: "directory", path: dir, extra: 1 } }, 400, "invalid_request"],
      [{ source: { type: "ftp", path: dir } }, 400, "invalid_request"],
      [{ source: { type: "git", url: "https://example.com/r.git" } }, 422, "unsupported"],
      [{ source: { type: "web", url: "https://example.com/" } }, 422, "unsupported"],
      [{ source: { type: "directory", path: outside } }, 422, "path_not_allowed"],
    ];
    for (const [body, status, code] of cases) {
      const res = await env.call("POST", "/api/v2/sources/preview", { token: me.token, body });
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, JSON.stringify(body));
    }
    // A read-only API key may preview (it changes nothing), not cancel operations.
    const key = await env.call("POST", "/api/v2/api-keys", {
      token: me.token,
      body: { name: "reader", scopes: ["read"] },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const byKey = await env.call("POST", "/api/v2/sources/preview", {
      token: key.body.key,
      body: { source: { type: "directory", path: dir, exclude: ["*.log"] } },
    });
    assert.equal(byKey.status, 200, JSON.stringify(byKey.body));
    assert.equal(byKey.body.files, 5);
    const cancelByKey = await env.call("POST", "/api/v2/operations/cancel", {
      token: key.body.key,
      body: {},
    });
    assert.equal(cancelByKey.status, 403);
    const anon = await env.call("POST", "/api/v2/sources/preview", {
      body: { source: { type: "directory", path: dir } },
    });
    assert.equal(anon.status, 401);
  } finally {
    await env.cleanup();
    await Deno.remove(outside, { recursive: true });
  }
});
