import assert from "node:assert/strict";
import { QdrantClient } from "@qdrant/js-client-rest";
import { type QdrantFake, startQdrantFake } from "./qdrant_fake.ts";

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

function client(fake: QdrantFake, apiKey?: string): QdrantClient {
  // The client warns about an API key over http; the fake only listens on loopback.
  return new QdrantClient({ url: fake.url, apiKey, checkCompatibility: false });
}

async function raw(
  fake: QdrantFake,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(fake.url + path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text.startsWith("{") ? JSON.parse(text) : { text } };
}

function errorOf(json: Record<string, unknown>): string {
  return String((json.status as { error?: string })?.error);
}

async function withFake(
  fn: (fake: QdrantFake) => Promise<void>,
  options?: Parameters<typeof startQdrantFake>[0],
) {
  await using fake = await startQdrantFake(options);
  await fn(fake);
}

Deno.test("qdrant fake: collection lifecycle with Qdrant's shapes and statuses", () =>
  withFake(async (fake) => {
    const q = client(fake);
    assert.equal(
      await q.createCollection("c1", { vectors: { size: 3, distance: "Cosine" } }),
      true,
    );
    const info = await q.getCollection("c1");
    assert.equal(info.status, "green");
    assert.equal(info.points_count, 0);
    assert.deepEqual(info.config.params.vectors, { size: 3, distance: "Cosine" });
    assert.deepEqual(await q.collectionExists("c1"), { exists: true });
    assert.deepEqual(await q.getCollections(), { collections: [{ name: "c1" }] });

    const again = await raw(fake, "PUT", "/collections/c1", {
      vectors: { size: 3, distance: "Cosine" },
    });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again.json), "Wrong input: Collection `c1` already exists!");
    assert.equal(typeof again.json.time, "number");

    const missing = await raw(fake, "GET", "/collections/nope");
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing.json), "Not found: Collection `nope` doesn't exist!");

    assert.equal(await q.deleteCollection("c1"), true);
    assert.equal(await q.deleteCollection("c1"), false);
    const ok = await raw(fake, "GET", "/collections");
    assert.equal(ok.status, 200);
    assert.equal(ok.json.status, "ok");
    assert.deepEqual(ok.json.result, { collections: [] });
  }));

Deno.test("qdrant fake: waited writes are visible at once, unwaited ones after flush, in order", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Cosine" } });
    const r1 = await q.upsert("c", {
      wait: false,
      points: [{ id: ID(1), vector: [1, 0], payload: { v: 1 } }],
    });
    assert.equal(r1.status, "acknowledged");
    assert.equal(fake.pendingWrites, 1);
    assert.deepEqual(await q.count("c"), { count: 0 });
    fake.flush();
    assert.deepEqual(await q.count("c"), { count: 1 });

    // An unwaited delete, then a waited upsert of the same id: order is kept, the point lives.
    await q.delete("c", { wait: false, points: [ID(1)] });
    const r2 = await q.upsert("c", {
      wait: true,
      points: [{ id: ID(1), vector: [0, 1], payload: { v: 2 } }],
    });
    assert.equal(r2.status, "completed");
    assert.equal(fake.pendingWrites, 0);
    const [p] = await q.retrieve("c", { ids: [ID(1)] });
    assert.deepEqual(p!.payload, { v: 2 });
  }, { unwaitedWrites: "manual" }));

Deno.test("qdrant fake: unwaited writes apply on their own by default", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Dot" } });
    await q.upsert("c", { wait: false, points: [{ id: 1, vector: [1, 0] }] });
    const { promise, resolve } = Promise.withResolvers<void>();
    setTimeout(resolve, 0);
    await promise;
    assert.equal(fake.pendingWrites, 0);
    assert.deepEqual(await q.count("c"), { count: 1 });
  }));

Deno.test("qdrant fake: upserts validate dimensions and ids before writing anything", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 3, distance: "Cosine" } });
    const dim = await raw(fake, "PUT", "/collections/c/points?wait=true", {
      points: [{ id: ID(1), vector: [1, 0, 0] }, { id: ID(2), vector: [1, 0] }],
    });
    assert.equal(dim.status, 400);
    assert.equal(errorOf(dim.json), "Wrong input: Vector dimension error: expected dim: 3, got 2");
    const id = await raw(fake, "PUT", "/collections/c/points?wait=true", {
      points: [{ id: "not-a-uuid", vector: [1, 0, 0] }],
    });
    assert.equal(id.status, 400);
    assert.match(errorOf(id.json), /ExtendedPointId/);
    assert.deepEqual(await q.count("c"), { count: 0 });
    // Simple-form UUIDs are accepted and come back hyphenated.
    await q.upsert("c", {
      batch: { ids: [ID(3).replaceAll("-", "").toUpperCase()], vectors: [[0, 0, 2]] },
    });
    const res = await q.query("c", { query: [0, 0, 1], with_payload: true });
    assert.deepEqual(res.points.map((p) => p.id), [ID(3)]);
  }));

Deno.test("qdrant fake: exact cosine scores, threshold, limit and offset", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Cosine" } });
    const vectors = [[1, 0], [1, 1], [0, 1], [-1, 0], [3, 1]];
    await q.upsert("c", {
      points: vectors.map((v, i) => ({ id: i + 1, vector: v, payload: { i } })),
    });
    const query = [2, 1];
    const cos = (a: number[], b: number[]) =>
      (a[0]! * b[0]! + a[1]! * b[1]!) / Math.hypot(a[0]!, a[1]!) / Math.hypot(b[0]!, b[1]!);
    const expected = vectors.map((v, i) => ({ id: i + 1, s: cos(v, query) }))
      .sort((a, b) => b.s - a.s);
    const all = await q.query("c", { query, limit: 10 });
    assert.deepEqual(all.points.map((p) => p.id), expected.map((e) => e.id));
    all.points.forEach((p, i) => assert.ok(Math.abs(p.score - expected[i]!.s) < 1e-6));
    assert.equal(all.points[0]!.payload, null, "the query API returns no payload by default");

    const page = await q.query("c", { query: { nearest: query }, limit: 2, offset: 1 });
    assert.deepEqual(page.points.map((p) => p.id), expected.slice(1, 3).map((e) => e.id));

    // Between two scores: a threshold on a score itself would test float rounding.
    const t = (expected[2]!.s + expected[3]!.s) / 2;
    const above = await q.query("c", { query, score_threshold: t });
    assert.deepEqual(above.points.map((p) => p.id), expected.slice(0, 3).map((e) => e.id));

    const bad = await raw(fake, "POST", "/collections/c/points/query", { query, limit: 0 });
    assert.equal(bad.status, 422);
  }));

Deno.test("qdrant fake: filters follow Qdrant's conditions over dotted keys and arrays", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Cosine" } });
    const payloads = [
      { doc: "a", tags: ["x", "y"], n: 1, meta: { lang: "en" } },
      { doc: "b", tags: ["y"], n: 5, meta: { lang: "de" } },
      { doc: "c", tags: [], n: 10, meta: { lang: null } },
      { doc: "d", n: 7 },
    ];
    await q.upsert("c", {
      points: payloads.map((payload, i) => ({ id: i + 1, vector: [1, i], payload })),
    });
    const ids = async (filter: Record<string, unknown>) =>
      (await q.query("c", { query: [1, 0], filter, limit: 10 })).points.map((p) => p.id).sort();
    assert.deepEqual(await ids({ must: [{ key: "doc", match: { value: "b" } }] }), [2]);
    assert.deepEqual(await ids({ must: [{ key: "doc", match: { any: ["a", "c"] } }] }), [1, 3]);
    assert.deepEqual(await ids({ must: [{ key: "tags", match: { value: "y" } }] }), [1, 2]);
    assert.deepEqual(await ids({ must: [{ key: "doc", match: { except: ["a", "b"] } }] }), [3, 4]);
    assert.deepEqual(await ids({ must: [{ key: "doc", match: { prefix: "c" } }] }), [3]);
    assert.deepEqual(await ids({ must: [{ key: "meta.lang", match: { value: "en" } }] }), [1]);
    assert.deepEqual(await ids({ must: [{ key: "n", range: { gte: 5, lt: 10 } }] }), [2, 4]);
    assert.deepEqual(await ids({ must_not: [{ key: "n", range: { gt: 4 } }] }), [1]);
    assert.deepEqual(
      await ids({ should: [{ key: "doc", match: { value: "a" } }, { has_id: [4] }] }),
      [1, 4],
    );
    assert.deepEqual(await ids({ must: [{ is_empty: { key: "tags" } }] }), [3, 4]);
    assert.deepEqual(await ids({ must: [{ is_null: { key: "meta.lang" } }] }), [3]);
    assert.deepEqual(
      await ids({
        min_should: {
          conditions: [
            { key: "tags", match: { value: "y" } },
            { key: "n", range: { lt: 6 } },
            { key: "doc", match: { value: "a" } },
          ],
          min_count: 2,
        },
      }),
      [1, 2],
    );
    assert.deepEqual(
      await ids({ must: [{ must_not: [{ key: "doc", match: { any: ["a", "b", "c"] } }] }] }),
      [4],
    );
    assert.deepEqual(await q.count("c", { filter: { must: [{ has_id: [1, 3] }] } }), { count: 2 });
    const text = await raw(fake, "POST", "/collections/c/points/query", {
      query: [1, 0],
      filter: { must: [{ key: "doc", match: { text: "a" } }] },
    });
    assert.equal(text.status, 400);
    assert.match(errorOf(text.json), /the Qdrant fake does not support the match/);
  }));

Deno.test("qdrant fake: payload selection and deletes by id and by filter", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Cosine" } });
    await q.upsert("c", {
      points: [1, 2, 3].map((i) => ({
        id: ID(i),
        vector: [1, i],
        payload: { doc: `d${i % 2}`, i },
      })),
    });
    const inc = await q.query("c", { query: [1, 1], with_payload: { include: ["i"] }, limit: 1 });
    assert.deepEqual(Object.keys(inc.points[0]!.payload!), ["i"]);
    const exc = await q.query("c", { query: [1, 1], with_payload: { exclude: ["i"] }, limit: 1 });
    assert.deepEqual(Object.keys(exc.points[0]!.payload!), ["doc"]);
    await q.delete("c", { wait: true, filter: { must: [{ key: "doc", match: { value: "d1" } }] } });
    assert.deepEqual(await q.count("c"), { count: 1 });
    await q.delete("c", { wait: true, points: [ID(2)] });
    assert.deepEqual(await q.count("c"), { count: 0 });
  }));

Deno.test("qdrant fake: payload indexes show in the collection's payload_schema", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("c", { vectors: { size: 2, distance: "Cosine" } });
    await q.upsert("c", { points: [{ id: 1, vector: [1, 0], payload: { document_id: "d" } }] });
    const r = await q.createPayloadIndex("c", {
      field_name: "document_id",
      field_schema: "keyword",
      wait: true,
    });
    assert.equal(r.status, "completed");
    const info = await q.getCollection("c");
    assert.deepEqual(info.payload_schema, { document_id: { data_type: "keyword", points: 1 } });
  }));

Deno.test("qdrant fake: aliases resolve for reads, switch atomically, die with their collection", () =>
  withFake(async (fake) => {
    const q = client(fake);
    await q.createCollection("blue", { vectors: { size: 2, distance: "Cosine" } });
    await q.createCollection("green", { vectors: { size: 2, distance: "Cosine" } });
    await q.upsert("blue", { points: [{ id: 1, vector: [1, 0] }] });
    await q.upsert("green", { points: [{ id: 2, vector: [1, 0] }, { id: 3, vector: [0, 1] }] });
    await q.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: "blue", alias_name: "live" } }],
    });
    assert.deepEqual(await q.count("live"), { count: 1 });
    assert.equal((await q.getCollection("live")).points_count, 1);
    // create_alias overwrites: the switch is one action.
    await q.updateCollectionAliases({
      actions: [{ create_alias: { collection_name: "green", alias_name: "live" } }],
    });
    assert.deepEqual(await q.count("live"), { count: 2 });
    assert.deepEqual(await q.getAliases(), {
      aliases: [{ alias_name: "live", collection_name: "green" }],
    });
    assert.deepEqual(await q.getCollectionAliases("green"), {
      aliases: [{ alias_name: "live", collection_name: "green" }],
    });
    const toMissing = await raw(fake, "POST", "/collections/aliases", {
      actions: [{ create_alias: { collection_name: "nope", alias_name: "x" } }],
    });
    assert.equal(toMissing.status, 404);
    const overCollection = await raw(fake, "POST", "/collections/aliases", {
      actions: [{ create_alias: { collection_name: "green", alias_name: "blue" } }],
    });
    assert.equal(overCollection.status, 400);
    const clash = await raw(fake, "PUT", "/collections/live", {
      vectors: { size: 2, distance: "Cosine" },
    });
    assert.equal(clash.status, 400);
    assert.match(errorOf(clash.json), /Alias with the same name already exists/);
    // Deleting by alias deletes nothing; deleting the collection removes its aliases.
    assert.equal(await q.deleteCollection("live"), false);
    assert.equal(await q.deleteCollection("green"), true);
    assert.deepEqual(await q.getAliases(), { aliases: [] });
    const gone = await raw(fake, "POST", "/collections/live/points/count", {});
    assert.equal(gone.status, 404);
  }));

Deno.test("qdrant fake: API key, injected failures, bad JSON and unknown routes", () =>
  withFake(async (fake) => {
    assert.equal((await raw(fake, "GET", "/collections")).status, 401);
    assert.equal(
      errorOf((await raw(fake, "GET", "/collections", undefined, { "api-key": "nope" })).json),
      "Invalid API key or JWT",
    );
    assert.equal((await raw(fake, "GET", "/healthz")).status, 200);
    const q = client(fake, "secret");
    assert.deepEqual(await q.getCollections(), { collections: [] });

    fake.failNext(1, { status: 429, headers: { "retry-after": "1" } });
    const limited = await raw(fake, "GET", "/collections", undefined, { "api-key": "secret" });
    assert.equal(limited.status, 429);
    fake.failNext(1);
    assert.equal(
      (await raw(fake, "GET", "/collections", undefined, { "api-key": "secret" })).status,
      503,
    );
    assert.equal(
      (await raw(fake, "GET", "/collections", undefined, { "api-key": "secret" })).status,
      200,
    );

    const json = await raw(fake, "PUT", "/collections/c", "{nope", { "api-key": "secret" });
    assert.equal(json.status, 400);
    assert.match(errorOf(json.json), /^Json deserialize error/);
    const route = await raw(fake, "POST", "/collections/c/points/scroll", {}, {
      "api-key": "secret",
    });
    assert.equal(route.status, 404);
    assert.ok(fake.requests.length >= 8);
    const last = fake.requests.at(-1)!;
    assert.deepEqual(
      { method: last.method, path: last.path, query: last.query, body: last.body },
      { method: "POST", path: "/collections/c/points/scroll", query: {}, body: {} },
    );
    // The answer is recorded with the request.
    assert.equal(last.status, 404);
    assert.match(errorOf(last.response as Record<string, unknown>), /no route POST/);
  }, { apiKey: "secret" }));

Deno.test("qdrant fake: sparse vectors with the IDF modifier, prefetch fused by RRF, query batches", () =>
  withFake(async (fake) => {
    const put = (path: string, body: unknown) => raw(fake, "PUT", path, JSON.stringify(body));
    type Scored = { id: number; score: number };
    const post = async (path: string, body: unknown) =>
      (await raw(fake, "POST", path, JSON.stringify(body))).json as {
        result: { points: Scored[] };
      };
    const postBatch = async (path: string, body: unknown) =>
      (await raw(fake, "POST", path, JSON.stringify(body))).json as {
        result: { points: Scored[] }[];
      };
    assert.equal(
      (await put("/collections/s", {
        vectors: { size: 2, distance: "Cosine" },
        sparse_vectors: { bm25: { modifier: "idf" } },
      })).status,
      200,
    );
    const point = (id: number, dense: number[], indices: number[], values: number[]) => ({
      id,
      vector: { "": dense, bm25: { indices, values } },
    });
    assert.equal(
      (await put("/collections/s/points?wait=true", {
        points: [
          point(1, [1, 0], [7, 9], [1, 2]),
          point(2, [0, 1], [7], [3]),
          point(3, [1, 1], [8], [1]),
        ],
      })).status,
      200,
    );
    // IDF over the 3 points: index 7 in 2 of them, index 9 in 1.
    const idf = (n: number) => Math.log(1 + (3 - n + 0.5) / (n + 0.5));
    const sparse = await post("/collections/s/points/query", {
      query: { indices: [7, 9], values: [1, 1] },
      using: "bm25",
    });
    const scores = Object.fromEntries(sparse.result.points.map((p) => [p.id, p.score]));
    assert.deepEqual(Object.keys(scores).sort(), ["1", "2"]); // 3 shares no index
    assert.ok(Math.abs(scores["1"]! - (1 * idf(2) + 2 * idf(1))) < 1e-9);
    assert.ok(Math.abs(scores["2"]! - 3 * idf(2)) < 1e-9);
    // Indices must be unique and lengths equal; a sparse vector the collection lacks is refused.
    const bad = await raw(
      fake,
      "POST",
      "/collections/s/points/query",
      JSON.stringify({
        query: { indices: [7, 7], values: [1, 1] },
        using: "bm25",
      }),
    );
    assert.equal(bad.status, 422);
    const missing = await raw(
      fake,
      "POST",
      "/collections/s/points/query",
      JSON.stringify({
        query: { indices: [7], values: [1] },
        using: "splade",
      }),
    );
    assert.equal(missing.status, 400);
    assert.match(errorOf(missing.json), /Not existing vector name/);
    // RRF over a dense and a sparse prefetch: Σ 1/(k + rank).
    const fused = await post("/collections/s/points/query", {
      prefetch: [{ query: [1, 0], limit: 3 }, {
        query: { indices: [7], values: [1] },
        using: "bm25",
        limit: 3,
      }],
      query: { rrf: { k: 10 } },
      limit: 3,
    });
    // Dense: 1 (cos 1), 3 (cos .71), 2 (cos 0); sparse on 7: 2 (3), 1 (1).
    const expected = { 1: 1 / 11 + 1 / 12, 2: 1 / 13 + 1 / 11, 3: 1 / 12 };
    assert.deepEqual(fused.result.points.map((p) => p.id), [1, 2, 3]);
    for (const p of fused.result.points) {
      assert.ok(Math.abs(p.score - expected[p.id as 1 | 2 | 3]) < 1e-9, `${p.id}: ${p.score}`);
    }
    const batch = await postBatch("/collections/s/points/query/batch", {
      searches: [{ query: [0, 1], limit: 1 }, {
        query: { fusion: "rrf" },
        prefetch: [{ query: [1, 0] }],
        limit: 1,
      }],
    });
    assert.deepEqual(batch.result.map((r) => r.points[0]!.id), [2, 1]);
  }));
