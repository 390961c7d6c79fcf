import assert from "node:assert/strict";
import { QdrantClient } from "@qdrant/js-client-rest";
import { type QdrantFake, startQdrantFake } from "../../tests/fakes/qdrant_fake.ts";
import { configureLogging } from "../log/logger.ts";
import { CollectionNotFoundError, DimensionMismatchError } from "./errors.ts";
import { pointId } from "./point_id.ts";
import { HNSW_M, QdrantStore, type QdrantStoreOptions } from "./qdrant_store.ts";
import type { VectorPoint } from "./vector_store.ts";

// Retries log a warning each; keep test output for failures.
configureLogging({ level: "error" });

function point(uri: string, i: number, vector: number[]): VectorPoint {
  return {
    id: pointId("c", { uri, ordinal: i }),
    vector,
    payload: { collection_id: "c", document_id: `doc:${uri}`, uri, chunk_index: i },
  };
}

async function withStore(
  fn: (store: QdrantStore, fake: QdrantFake) => Promise<void>,
  options: Partial<QdrantStoreOptions> = {},
  fakeOptions: Parameters<typeof startQdrantFake>[0] = {},
) {
  await using fake = await startQdrantFake(fakeOptions);
  const store = new QdrantStore({
    url: fake.url,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  try {
    await fn(store, fake);
  } finally {
    await store.close();
  }
}

Deno.test("qdrant store: writes wait, so they are visible when they resolve", () =>
  withStore(
    async (store, fake) => {
      await store.ensureCollection("col_w", 2);
      await store.upsert("col_w", [point("/a", 0, [1, 0]), point("/b", 0, [0, 1])]);
      assert.equal(await store.count("col_w"), 2);
      await store.deleteByDocument("col_w", ["doc:/a"]);
      assert.equal(await store.count("col_w"), 1);
      await store.deleteByIds("col_w", [pointId("c", { uri: "/b", ordinal: 0 })]);
      assert.equal(await store.count("col_w"), 0);
      const writes = fake.requests.filter((r) => r.method !== "GET" && r.path.includes("/points"))
        .filter((r) => !r.path.endsWith("/count") && !r.path.endsWith("/query"));
      assert.equal(writes.length, 3);
      for (const w of writes) assert.equal(w.query.wait, "true", `${w.method} ${w.path}`);
      assert.equal(fake.pendingWrites, 0);
    },
    {},
    { unwaitedWrites: "manual" },
  ));

Deno.test("qdrant store: ensureCollection() makes a cosine collection with keyword indexes", () =>
  withStore(async (store, fake) => {
    await store.ensureCollection("col_e", 3);
    await store.ensureCollection("col_e", 3);
    const q = new QdrantClient({ url: fake.url, checkCompatibility: false });
    const info = await q.getCollection("col_e");
    assert.deepEqual(info.config.params.vectors, { size: 3, distance: "Cosine" });
    assert.equal(info.payload_schema.document_id?.data_type, "keyword");
    assert.equal(info.payload_schema._uri_prefixes?.data_type, "keyword");
    await assert.rejects(store.ensureCollection("col_e", 4), (err: unknown) => {
      assert.ok(err instanceof DimensionMismatchError);
      assert.equal(err.expected, 3);
      assert.equal(err.actual, 4);
      return true;
    });
    // A collection made elsewhere without indexes gets them.
    await q.createCollection("col_bare", { vectors: { size: 3, distance: "Cosine" } });
    await store.ensureCollection("col_bare", 3);
    assert.equal(
      (await q.getCollection("col_bare")).payload_schema.document_id?.data_type,
      "keyword",
    );
    await q.createCollection("col_dot", { vectors: { size: 3, distance: "Dot" } });
    await assert.rejects(store.ensureCollection("col_dot", 3), /its distance is Dot, not Cosine/);
  }));

Deno.test("qdrant store: a bulk load creates the collection with the HNSW graph off (m 0); finishBulkLoad, or a later plain ensureCollection, turns it on", () =>
  withStore(async (store, fake) => {
    const client = new QdrantClient({ url: fake.url, checkCompatibility: false });
    const m = async (name: string) => (await client.getCollection(name)).config.hnsw_config.m;
    await store.ensureCollection("col_bulk", 2, { bulkLoad: true });
    assert.equal(await m("col_bulk"), 0);
    await store.upsert("col_bulk", [point("/a", 0, [1, 0]), point("/b", 0, [0, 1])]);
    await store.ensureCollection("col_bulk", 2, { bulkLoad: true });
    assert.equal(await m("col_bulk"), 0, "a retried bulk load leaves the graph off");
    await store.finishBulkLoad("col_bulk");
    assert.equal(await m("col_bulk"), HNSW_M);
    const patches = fake.requests.filter((r) => r.method === "PATCH");
    assert.deepEqual(patches.map((r) => r.path), ["/collections/col_bulk"]);
    await store.finishBulkLoad("col_bulk");
    assert.equal(fake.requests.filter((r) => r.method === "PATCH").length, 1, "no second PATCH");
    // A bulk load that never finished: the next plain ensureCollection turns the graph on.
    await store.ensureCollection("col_unfinished", 2, { bulkLoad: true });
    await store.ensureCollection("col_unfinished", 2);
    assert.equal(await m("col_unfinished"), HNSW_M);
    // A plain ensureCollection creates the collection with the graph on.
    await store.ensureCollection("col_plain", 2);
    assert.equal(await m("col_plain"), HNSW_M);
    await assert.rejects(
      store.finishBulkLoad("col_missing"),
      (e) => e instanceof CollectionNotFoundError && e.collection === "col_missing",
    );
  }));

Deno.test("qdrant store: concurrent ensureCollection() calls all succeed", () =>
  withStore(async (store, fake) => {
    const other = new QdrantStore({ url: fake.url });
    await Promise.all([
      ...Array.from({ length: 4 }, () => store.ensureCollection("col_c", 2)),
      ...Array.from({ length: 4 }, () => other.ensureCollection("col_c", 2)),
    ]);
    const creates = fake.requests.filter((r) =>
      r.method === "PUT" && r.path === "/collections/col_c"
    );
    assert.ok(creates.length >= 1);
    assert.equal(await store.count("col_c"), 0);
  }));

Deno.test("qdrant store: upserts go in batches of batchSize points", () =>
  withStore(async (store, fake) => {
    await store.ensureCollection("col_b", 2);
    const points = Array.from({ length: 600 }, (_, i) => point(`/d/${i}`, 0, [1, i]));
    await store.upsert("col_b", points);
    const sizes = fake.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/points"))
      .map((r) => (r.body as { points: unknown[] }).points.length);
    assert.deepEqual(sizes, [256, 256, 88]);
    assert.equal(await store.count("col_b"), 600);
  }, { batchSize: 256 }));

Deno.test("qdrant store: transient failures are retried, others are not", () =>
  withStore(async (store, fake) => {
    await store.ensureCollection("col_r", 2);
    const before = fake.requests.length;
    fake.failNext(2, { status: 503 });
    await store.upsert("col_r", [point("/a", 0, [1, 0])]);
    assert.equal(fake.requests.length - before, 3);
    fake.failNext(1, { status: 429, headers: { "retry-after": "0" } });
    fake.failNext(1, { status: 502 });
    assert.equal(await store.count("col_r"), 1);

    const n = fake.requests.length;
    fake.failNext(3, { status: 500, error: "Service internal error: disk full" });
    await assert.rejects(
      store.count("col_r"),
      /Cannot count vector collection col_r: Qdrant answered 500: Service internal error: disk full/,
    );
    assert.equal(fake.requests.length - n, 3, "maxAttempts bounds the attempts");
    assert.equal(await store.count("col_r"), 1);

    // A 400 is the caller's fault: one attempt only.
    const m = fake.requests.length;
    fake.failNext(1, { status: 400, error: "Wrong input: nope" });
    await assert.rejects(store.count("col_r"), /Qdrant answered 400: Wrong input: nope/);
    assert.equal(fake.requests.length - m, 1);
  }, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 } }));

Deno.test("qdrant store: network errors are retried, then reported", async () => {
  const fake = await startQdrantFake();
  const url = fake.url;
  await fake.close();
  const store = new QdrantStore({ url, retry: { maxAttempts: 2, baseDelayMs: 1 } });
  await assert.rejects(
    store.count("col_x"),
    /Cannot count vector collection col_x: Qdrant answered nothing/,
  );
  const r = await store.ready();
  assert.ok(!r.ok);
  assert.match(r.reason, new RegExp(`Qdrant at ${url} is not reachable`));
});

Deno.test("qdrant store: dimension mismatches become DimensionMismatchError", () =>
  withStore(async (store) => {
    await store.ensureCollection("col_d", 3);
    await assert.rejects(store.upsert("col_d", [point("/a", 0, [1, 0])]), (err: unknown) => {
      assert.ok(err instanceof DimensionMismatchError);
      assert.deepEqual([err.collection, err.expected, err.actual], ["col_d", 3, 2]);
      assert.equal(
        err.message,
        "Cannot upsert into col_d: the vectors have 2 dimensions, the collection has 3",
      );
      return true;
    });
    await assert.rejects(store.search("col_d", [1, 0], { k: 1 }), DimensionMismatchError);
  }));

Deno.test("qdrant store: ready() checks the API key", async () => {
  await using fake = await startQdrantFake({ apiKey: "right" });
  const warn = console.warn;
  console.warn = () => {}; // the client warns about an API key over http
  try {
    const good = new QdrantStore({ url: fake.url, apiKey: "right" });
    assert.deepEqual(await good.ready(), { ok: true });
    const bad = await new QdrantStore({ url: fake.url, apiKey: "wrong" }).ready();
    assert.ok(!bad.ok);
    assert.match(
      bad.reason,
      /refused the API key \(401: Invalid API key or JWT\): check QDRANT_API_KEY/,
    );
  } finally {
    console.warn = warn;
  }
});

Deno.test("qdrant store: the uri filter uses stored ancestors, hidden from hits", () =>
  withStore(async (store, fake) => {
    await store.ensureCollection("col_u", 2);
    await store.upsert("col_u", [
      point("/docs/a.txt", 0, [1, 0]),
      point("/docs2/b.txt", 0, [1, 1]),
    ]);
    const put = fake.requests.find((r) => r.method === "PUT" && r.path.endsWith("/points"));
    const stored = (put!.body as { points: { payload: Record<string, unknown> }[] }).points[0]!;
    assert.deepEqual(stored.payload._uri_prefixes, ["/", "/docs", "/docs/a.txt"]);
    const hits = await store.search("col_u", [1, 0], { k: 5, uriPrefix: "/docs/" });
    assert.deepEqual(hits.map((h) => h.payload.uri), ["/docs/a.txt"]);
    assert.ok(!("_uri_prefixes" in hits[0]!.payload));
  }));

Deno.test("qdrant store: rejects bad options before any request", () => {
  assert.throws(() => new QdrantStore({ url: "ftp://x" }), TypeError);
  assert.throws(() => new QdrantStore({ url: "nope" }), TypeError);
  assert.throws(() => new QdrantStore({ url: "http://x", batchSize: 0 }), RangeError);
  assert.throws(() => new QdrantStore({ url: "http://x", timeoutMs: 0 }), RangeError);
});

Deno.test("the store checks the server's version: a server two minor versions away is warned about", async () => {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  try {
    for (const version of ["1.19.0", "1.17.2"]) {
      await using fake = await startQdrantFake({ version });
      const store = new QdrantStore({ url: fake.url });
      await waitUntil(() => fake.requests.some((r) => r.method === "GET" && r.path === "/"));
      // The client reads the answer after its request is recorded: let it finish.
      await store.ready();
      await store.close();
    }
  } finally {
    console.warn = original;
  }
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /incompatible with server version 1\.17\.2/);
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 500) throw new Error("Gave up waiting for the version request");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("qdrant store: setLexical() adds the sparse vector to a collection made without it", () =>
  withStore(async (store, fake) => {
    // A collection as the store made it before lexical retrieval: one dense vector only.
    const client = new QdrantClient({ url: fake.url, checkCompatibility: false });
    await client.createCollection("col_legacy_g1", { vectors: { size: 2, distance: "Cosine" } });
    const points = [point("/a.txt", 0, [1, 0]), point("/b.txt", 0, [0, 1])];
    await store.upsert("col_legacy_g1", [
      { ...points[0]!, text: "LISTEN waits; pg_notify wakes it." },
      { ...points[1]!, text: "Nothing to see." },
    ]);
    assert.deepEqual(await store.lexicalSearch("col_legacy_g1", "pg_notify", { k: 5 }), []);
    const hybridBefore = await store.hybridSearch("col_legacy_g1", [1, 0], "pg_notify", { k: 2 });
    assert.deepEqual(hybridBefore.map((h) => h.lexical), [null, null]);

    await store.setLexical("col_legacy_g1", [
      { id: points[0]!.id, text: "LISTEN waits; pg_notify wakes it." },
      { id: points[1]!.id, text: "Nothing to see." },
    ]);
    const info = await client.getCollection("col_legacy_g1");
    assert.deepEqual(info.config.params.sparse_vectors, { bm25: { modifier: "idf" } });
    const hits = await store.lexicalSearch("col_legacy_g1", "pg_notify", { k: 5 });
    assert.deepEqual(hits.map((h) => h.id), [points[0]!.id]);
    // The dense vectors were not sent again: the update carries the sparse vector only.
    const updates = fake.requests.filter((r) => r.path.endsWith("/points/vectors"));
    assert.equal(updates.length, 1);
    for (const p of (updates[0]!.body as { points: { vector: object }[] }).points) {
      assert.deepEqual(Object.keys(p.vector), ["bm25"]);
    }
    const [dense] = await store.search("col_legacy_g1", [0, 1], { k: 1 });
    assert.equal(dense!.id, points[1]!.id);
    assert.ok(Math.abs(dense!.score - 1) < 1e-6);
    // Another call finds the sparse vector there and does not create it again.
    await store.setLexical("col_legacy_g1", [{ id: points[1]!.id, text: "see" }]);
    assert.equal(fake.requests.filter((r) => /\/vectors\/bm25$/.test(r.path)).length, 1);
  }));

Deno.test("qdrant store: collections are created with QDRANT_SHARDS and QDRANT_REPLICATION (1 and 1 by default)", async () => {
  await withStore(async (store, fake) => {
    await store.ensureCollection("col_dist", 3);
    const create = fake.requests.find((r) =>
      r.method === "PUT" && r.path === "/collections/col_dist"
    );
    const body = create!.body as { shard_number?: number; replication_factor?: number };
    assert.equal(body.shard_number, 3);
    assert.equal(body.replication_factor, 2);
    const info = await new QdrantClient({ url: fake.url, checkCompatibility: false }).getCollection(
      "col_dist",
    );
    assert.equal(info.config.params.shard_number, 3);
    assert.equal(info.config.params.replication_factor, 2);
  }, { shards: 3, replication: 2 });
  await withStore(async (store, fake) => {
    await store.ensureCollection("col_one", 3);
    const info = await new QdrantClient({ url: fake.url, checkCompatibility: false }).getCollection(
      "col_one",
    );
    assert.equal(info.config.params.shard_number, 1);
    assert.equal(info.config.params.replication_factor, 1);
  });
  assert.throws(() => new QdrantStore({ url: "http://127.0.0.1:1", shards: 0 }), /shards/);
  assert.throws(() => new QdrantStore({ url: "http://127.0.0.1:1", replication: 1.5 }), RangeError);
});
