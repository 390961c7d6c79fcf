import assert from "node:assert/strict";
import type { Db, Queryable, SqlParam } from "../db/db.ts";
import { openPglite } from "../db/pglite_driver.ts";
import { AppError } from "../errors.ts";
import { createServerTestDb, hnswIndexCount, testServerOffersPgvector } from "../testing/db.ts";
import {
  ANALYZE_MIN_ROWS,
  GIN_MERGE_ROWS,
  LEXICAL_CANDIDATES,
  PgvectorStore,
} from "./pgvector_store.ts";
import { CollectionNotFoundError } from "./errors.ts";
import { pointId } from "./point_id.ts";
import { matchesUriPrefix } from "./uri_prefix.ts";
import type { VectorPoint } from "./vector_store.ts";

/**
 * A Db that records every statement (and, at the same index, its parameters) and can fail chosen
 * ones, around a real database.
 */
function recording(
  db: Db,
  failExec?: (sql: string) => Error | undefined,
): Db & { statements: string[]; params: (readonly SqlParam[])[] } {
  const statements: string[] = [];
  const params: (readonly SqlParam[])[] = [];
  const record = (sql: string, p: readonly SqlParam[] = []) => {
    statements.push(sql);
    params.push(p);
  };
  return {
    driver: db.driver,
    statements,
    params,
    query<T>(sql: string, p?: readonly SqlParam[]): Promise<T[]> {
      record(sql, p);
      return db.query<T>(sql, p);
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) =>
        fn({
          query<U>(sql: string, p?: readonly SqlParam[]) {
            record(sql, p);
            return tx.query<U>(sql, p);
          },
        })
      );
    },
    async exec(sql: string): Promise<void> {
      record(sql);
      await db.exec(sql);
      const err = failExec?.(sql);
      if (err) throw err;
    },
    close: () => db.close(),
  };
}

function point(collection: string, uri: string, i: number, vector: number[]): VectorPoint {
  return {
    id: pointId(collection, { uri, ordinal: i }),
    vector,
    payload: { collection_id: collection, document_id: `doc:${uri}`, uri, chunk_index: i },
  };
}

Deno.test({
  name: "pgvector store: ready() explains a server without the vector extension",
  // It needs a server without pgvector (CI's); a developer's may offer it.
  ignore: await testServerOffersPgvector(),
}, async () => {
  const t = await createServerTestDb({ migrate: false, max: 2 });
  const store = new PgvectorStore(t.db);
  try {
    const r = await store.ready();
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.match(r.reason, /vector extension is not installed on the server \(PostgreSQL 15/);
    assert.match(r.reason, /VECTOR_DATABASE_URL/);
    await assert.rejects(store.ensureCollection("col_a", 3), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.status, 503);
      assert.match(err.message, /vector extension is not installed/);
      return true;
    });
  } finally {
    await store.close();
    await t.cleanup();
  }
});

Deno.test("pgvector store: ready() reports an unreachable database without throwing", async () => {
  const db = await openPglite();
  await db.close();
  const r = await new PgvectorStore(db).ready();
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /cannot reach its database/.test(r.reason));
});

Deno.test("pgvector store: a table per collection with document, uri and HNSW cosine indexes", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  try {
    assert.deepEqual(await store.ready(), { ok: true });
    await store.ensureCollection("col_idx", 4);
    const idx = await db.query<{ indexdef: string }>(
      "select indexdef from pg_indexes where tablename = 'vec_col_idx' order by indexname",
    );
    const defs = idx.map((r) => r.indexdef).join("\n");
    assert.match(defs, /USING hnsw \(embedding vector_cosine_ops\)/);
    assert.match(defs, /\(document_id\)/);
    assert.match(defs, /\(uri text_pattern_ops\)/);
    // Wider than HNSW allows: no index, but the collection works.
    await store.ensureCollection("col_wide", 2001);
    const wide = await db.query(
      "select 1 from pg_indexes where tablename = 'vec_col_wide' and indexdef like '%hnsw%'",
    );
    assert.equal(wide.length, 0);
    const v = Array.from({ length: 2001 }, (_, i) => (i % 7) - 3);
    await store.upsert("col_wide", [point("col_wide", "/w", 0, v)]);
    const [hit] = await store.search("col_wide", v, { k: 1 });
    assert.ok(Math.abs(hit!.score - 1) < 1e-6);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: a bulk load defers the HNSW index to finishBulkLoad; a later plain ensureCollection builds one never finished", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  const hnsw = (name: string) => hnswIndexCount(db, name);
  try {
    await store.ensureCollection("col_bulk", 3, { bulkLoad: true });
    assert.equal(await hnsw("col_bulk"), 0, "a bulk load's table has no HNSW index");
    const points = Array.from({ length: 40 }, (_, i) => point("col_bulk", "/b", i, [1, i, 40 - i]));
    await store.upsert("col_bulk", points);
    // Searches work before the index: an exact scan.
    const before = await store.search("col_bulk", [1, 39, 1], { k: 3 });
    assert.deepEqual(before.map((h) => h.id), [points[39]!.id, points[38]!.id, points[37]!.id]);
    // Ensuring it again as a bulk load (a retried attempt) leaves it unindexed.
    await store.ensureCollection("col_bulk", 3, { bulkLoad: true });
    assert.equal(await hnsw("col_bulk"), 0);
    await store.finishBulkLoad("col_bulk");
    assert.equal(await hnsw("col_bulk"), 1);
    await store.finishBulkLoad("col_bulk");
    const after = await store.search("col_bulk", [1, 39, 1], { k: 3 });
    assert.deepEqual(after.map((h) => h.id), before.map((h) => h.id));
    // A bulk load whose operation failed before finishing: the next plain ensureCollection (in
    // another process: a store with no memory of the table) builds the index.
    await store.ensureCollection("col_unfinished", 3, { bulkLoad: true });
    const other = new PgvectorStore(db);
    await other.ensureCollection("col_unfinished", 3);
    assert.equal(await hnsw("col_unfinished"), 1);
    // An indexed table ensured as a bulk load keeps its index.
    await store.ensureCollection("col_unfinished", 3, { bulkLoad: true });
    assert.equal(await hnsw("col_unfinished"), 1);
    await assert.rejects(
      store.finishBulkLoad("col_missing"),
      (e) => e instanceof CollectionNotFoundError && e.collection === "col_missing",
    );
  } finally {
    await store.close();
    await db.close();
  }
});

/** `n` points of `dimension` dimensions for collection `name`, ordinals from `from`. */
function pointsOf(name: string, dimension: number, n: number, from = 0): VectorPoint[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return point(
      name,
      "/t",
      i,
      Array.from({ length: dimension }, (_, d) => ((i * 7 + d) % 11) + 1),
    );
  });
}

Deno.test("pgvector store: below the indexing threshold a collection has no HNSW index and is searched exactly; it gets one once it holds the threshold's points", async () => {
  const db = await openPglite();
  // 1 KB of float32 vectors of 64 dimensions: 4 points.
  const store = new PgvectorStore(db, { indexingThresholdKb: 1 });
  try {
    // A bulk load of 3 points: finishBulkLoad builds nothing.
    await store.ensureCollection("col_small", 64, { bulkLoad: true });
    const small = pointsOf("col_small", 64, 3);
    await store.upsert("col_small", small);
    await store.finishBulkLoad("col_small");
    assert.equal(
      await hnswIndexCount(db, "col_small"),
      0,
      "3 points of a 4-point threshold got an index",
    );
    // Searched exactly: the nearest by cosine, computed here.
    const query = small[1]!.vector as number[];
    const cos = (a: number[], b: number[]) =>
      a.reduce((s, x, d) => s + x * b[d]!, 0) /
      Math.hypot(...a) / Math.hypot(...b);
    const expected = [...small].sort((a, b) =>
      cos(b.vector as number[], query) - cos(a.vector as number[], query)
    ).map((p) => p.id);
    const hits = await store.search("col_small", query, { k: 3 });
    assert.deepEqual(hits.map((h) => h.id), expected);
    assert.ok(Math.abs(hits[0]!.score - 1) < 1e-6, `the point itself scored ${hits[0]!.score}`);

    // A bulk load of 4 points: built at its finish, not before.
    await store.ensureCollection("col_four", 64, { bulkLoad: true });
    await store.upsert("col_four", pointsOf("col_four", 64, 4));
    assert.equal(
      await hnswIndexCount(db, "col_four"),
      0,
      "an upsert of a bulk load built the index",
    );
    await store.finishBulkLoad("col_four");
    assert.equal(
      await hnswIndexCount(db, "col_four"),
      1,
      "4 points of a 4-point threshold: no index",
    );

    // Outside a bulk load: a new table has none; the upsert that brings it to 4 points builds it.
    await store.ensureCollection("col_grows", 64);
    assert.equal(await hnswIndexCount(db, "col_grows"), 0, "a new table was indexed at once");
    await store.upsert("col_grows", pointsOf("col_grows", 64, 3));
    assert.equal(await hnswIndexCount(db, "col_grows"), 0);
    await store.upsert("col_grows", pointsOf("col_grows", 64, 1, 3));
    assert.equal(await hnswIndexCount(db, "col_grows"), 1, "the fourth point built no index");

    // The small table grows past it through a plain ensureCollection (a later sync) and upserts.
    await store.ensureCollection("col_small", 64);
    assert.equal(await hnswIndexCount(db, "col_small"), 0);
    await store.upsert("col_small", pointsOf("col_small", 64, 1, 3));
    assert.equal(
      await hnswIndexCount(db, "col_small"),
      1,
      "the small table reached 4 points unindexed",
    );

    // A table ensured plainly, then bulk-loaded (its documents all gone, say): the load's
    // upserts build nothing, its finish does.
    await store.ensureCollection("col_reload", 64);
    await store.ensureCollection("col_reload", 64, { bulkLoad: true });
    await store.upsert("col_reload", pointsOf("col_reload", 64, 5));
    assert.equal(
      await hnswIndexCount(db, "col_reload"),
      0,
      "an upsert of a bulk load built the index",
    );
    await store.finishBulkLoad("col_reload");
    assert.equal(await hnswIndexCount(db, "col_reload"), 1);

    // Without a threshold (the class' default) a new table is indexed at once.
    const always = new PgvectorStore(db);
    await always.ensureCollection("col_always", 64);
    assert.equal(await hnswIndexCount(db, "col_always"), 1);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: below the threshold, upserts recount the table every eighth of it, so points other processes wrote count too", async () => {
  const db = await openPglite();
  // 64 KB of 16-dimension vectors: 1,024 points; recounted every 128 points this store adds.
  const store = new PgvectorStore(db, { indexingThresholdKb: 64 });
  const other = new PgvectorStore(db, { indexingThresholdKb: 64 });
  try {
    await store.ensureCollection("col_shared", 16);
    // Another process (whose upserts alone do not reach the threshold) writes 1,000 points.
    await other.upsert("col_shared", pointsOf("col_shared", 16, 1000));
    assert.equal(await hnswIndexCount(db, "col_shared"), 0);
    await store.upsert("col_shared", pointsOf("col_shared", 16, 127, 1000));
    assert.equal(
      await hnswIndexCount(db, "col_shared"),
      0,
      "recounted before 128 points were added",
    );
    await store.upsert("col_shared", pointsOf("col_shared", 16, 1, 1127));
    assert.equal(
      await hnswIndexCount(db, "col_shared"),
      1,
      "1,128 points, recounted, and no index",
    );
  } finally {
    await other.close();
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: an index build that fails after an upsert fails no write; the next upsert builds it", async () => {
  const pg = await openPglite();
  let failBuilds = true;
  const db: Db = {
    driver: pg.driver,
    query: (sql, p) => pg.query(sql, p),
    exec: (sql) => pg.exec(sql),
    transaction: (fn) =>
      pg.transaction((tx) =>
        fn({
          query(sql, p) {
            if (failBuilds && /using hnsw/i.test(sql)) {
              return Promise.reject(new Error("injected: could not build the index"));
            }
            return tx.query(sql, p);
          },
        })
      ),
    close: () => pg.close(),
  };
  const store = new PgvectorStore(db, { indexingThresholdKb: 1 });
  try {
    await store.ensureCollection("col_flaky", 64);
    await store.upsert("col_flaky", pointsOf("col_flaky", 64, 4));
    assert.equal(await store.count("col_flaky"), 4);
    assert.equal(await hnswIndexCount(pg, "col_flaky"), 0);
    failBuilds = false;
    await store.upsert("col_flaky", pointsOf("col_flaky", 64, 1, 4));
    assert.equal(await hnswIndexCount(pg, "col_flaky"), 1, "the build was not tried again");
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pgvector store: a collection dropped and made again as a bulk load gets its index at finishBulkLoad", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  try {
    await store.ensureCollection("col_again", 3);
    assert.equal(await hnswIndexCount(db, "col_again"), 1);
    await store.drop("col_again");
    await store.ensureCollection("col_again", 3, { bulkLoad: true });
    await store.upsert("col_again", [point("col_again", "/a", 0, [1, 2, 3])]);
    await store.finishBulkLoad("col_again");
    assert.equal(
      await hnswIndexCount(db, "col_again"),
      1,
      "the dropped table's index was taken as built",
    );
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: indexingThresholdKb must be a non-negative integer", () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(
      () => new PgvectorStore({} as Db, { indexingThresholdKb: bad }),
      /indexingThresholdKb must be a non-negative integer/,
    );
  }
});

Deno.test("pgvector store: stores exactly the caller's float32 values", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  try {
    const values = Float32Array.from([
      0.1,
      -1 / 3,
      Math.PI,
      1.17549435e-38, // the smallest normal float32
      3.4028234e38, // the largest
      -2.5e-10,
      0.123456789,
      1 + 2 ** -23, // one ulp above 1
    ]);
    await store.ensureCollection("col_exact", values.length);
    await store.upsert("col_exact", [point("col_exact", "/x", 0, Array.from(values))]);
    const [row] = await db.query<{ v: string }>("select embedding::text as v from vec_col_exact");
    const stored = Float32Array.from(JSON.parse(row!.v) as number[]);
    assert.deepEqual(stored, values);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: each upsert batch and each delete by document is one statement", async () => {
  const pg = await openPglite();
  const db = recording(pg);
  const store = new PgvectorStore(db, { batchSize: 256 });
  try {
    await store.ensureCollection("col_b", 3);
    const points = Array.from(
      { length: 600 },
      (_, i) => point("col_b", `/d/${i % 10}.txt`, i, [1 + i, 2, 3]),
    );
    db.statements.length = 0;
    await store.upsert("col_b", points);
    assert.equal(db.statements.filter((s) => s.trimStart().startsWith("insert into")).length, 3);
    assert.equal(await store.count("col_b"), 600);
    db.statements.length = 0;
    await store.deleteByDocument("col_b", ["doc:/d/1.txt", "doc:/d/2.txt"]);
    assert.equal(db.statements.filter((s) => s.trimStart().startsWith("delete")).length, 1);
    assert.equal(await store.count("col_b"), 480);
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pgvector store: ensureCollection() survives losing a creation race", async () => {
  const pg = await openPglite();
  let raced = false;
  // The first create script "loses" to a concurrent process: the table exists (the script ran)
  // but we get the duplicate error that process would have caused us.
  const db = recording(pg, (sql) => {
    if (raced || !sql.includes("create table if not exists vec_")) return undefined;
    raced = true;
    return Object.assign(new Error('relation "vec_col_r" already exists'), { code: "42P07" });
  });
  const store = new PgvectorStore(db);
  try {
    await store.ensureCollection("col_r", 3);
    assert.ok(raced);
    await store.ensureCollection("col_r", 3);
    await store.upsert("col_r", [point("col_r", "/a", 0, [1, 0, 0])]);
    assert.equal(await store.count("col_r"), 1);
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pgvector store: unfiltered searches return k hits beyond hnsw's default ef_search", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  try {
    await store.ensureCollection("col_k", 8);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
    const points = Array.from(
      { length: 150 },
      (_, i) => point("col_k", `/k/${i}`, 0, Array.from({ length: 8 }, rnd)),
    );
    await store.upsert("col_k", points);
    // The planner scans a table this small; make it walk the index, as on a large collection.
    await db.query("set enable_seqscan = off");
    const hits = await store.search("col_k", Array.from({ length: 8 }, rnd), { k: 120 });
    assert.equal(hits.length, 120);
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: a search whose alias target is dropped under it looks the alias up again", async () => {
  const pg = await openPglite();
  const admin = new PgvectorStore(pg);
  let armed = false;
  // Between the store's alias lookup and its search, the alias switches and the old table goes:
  // the widest window a blue/green switch can open for a search in flight.
  const db: Db = {
    ...pg,
    async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
      const rows = await pg.query<T>(sql, params);
      if (armed && sql.includes("from vector_aliases where alias")) {
        armed = false;
        await admin.setAlias("col_live", "col_green");
        await admin.drop("col_blue");
      }
      return rows;
    },
  };
  const store = new PgvectorStore(db);
  try {
    for (const [name, vector] of [["col_blue", [1, 0]], ["col_green", [0, 1]]] as const) {
      await admin.ensureCollection(name, 2);
      await admin.upsert(name, [point(name, `/${name}`, 0, [...vector])]);
    }
    await admin.setAlias("col_live", "col_blue");
    armed = true;
    const hits = await store.search("col_live", [1, 1], { k: 5 });
    assert.equal(armed, false, "the switch ran inside the search");
    assert.deepEqual(hits.map((h) => h.payload.uri), ["/col_green"]);
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pgvector store: the uri prefix filter agrees with the reference definition", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  const uris = [
    "/a/b/c.txt",
    "/a",
    "/a/",
    "/a//b",
    "/a%b/_c",
    "/a_b",
    "/docs2/x",
    "/docs/x",
    "rel/a",
  ];
  const prefixes = ["/", "/a", "/a/", "/a/b", "/a%b", "/a_b", "/docs", "/doc", "rel", "//"];
  try {
    await store.ensureCollection("col_u", 2);
    await store.upsert("col_u", uris.map((u, i) => point("col_u", u, i, [1, i + 1])));
    for (const prefix of prefixes) {
      const hits = await store.search("col_u", [1, 1], { k: 100, uriPrefix: prefix });
      assert.deepEqual(
        hits.map((h) => h.payload.uri).sort(),
        uris.filter((u) => matchesUriPrefix(u, prefix)).sort(),
        `prefix ${prefix}`,
      );
    }
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: close() closes only a database the store owns", async () => {
  const shared = await openPglite();
  await new PgvectorStore(shared).close();
  assert.deepEqual(await shared.query("select 1 as one"), [{ one: 1 }]);
  const owned = new PgvectorStore(shared, { ownsDb: true });
  await owned.close();
  await owned.close();
  await assert.rejects(shared.query("select 1"));
});

Deno.test("pgvector: a hybrid search of a table made before lexical retrieval answers its dense list", async () => {
  const base = await openPglite();
  try {
    for (const db of [base, { ...base, driver: "postgres" as const }]) {
      const store = new PgvectorStore(db);
      await store.ready();
      await base.exec(
        `drop table if exists vec_older;
         create table vec_older (
           id uuid primary key, document_id text not null, uri text not null,
           chunk_index integer not null, payload jsonb not null, embedding vector(3) not null
         )`,
      );
      const id = pointId("older", { uri: "/d/a.txt", ordinal: 0 });
      await base.query(
        `insert into vec_older values ($1, 'd', '/d/a.txt', 0, '{"collection_id":"older",
          "document_id":"d","uri":"/d/a.txt","chunk_index":0}', '[1,0,0]')`,
        [id],
      );
      const hits = await store.hybridSearch("older", [1, 0, 0], "SKIP LOCKED", { k: 5 });
      assert.equal(hits.length, 1, `${db.driver}: ${JSON.stringify(hits)}`);
      assert.equal(hits[0]!.id, id);
      assert.equal(hits[0]!.lexical, null);
      assert.ok(Math.abs(hits[0]!.dense! - 1) < 1e-6);
    }
  } finally {
    await base.close();
  }
});

Deno.test("pgvector: a table made before lexical retrieval gets its columns and index on use", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db);
    await store.ready();
    // The layout before lexical retrieval, with one point in it.
    const oldTable = (name: string) =>
      `create table vec_${name} (
         id uuid primary key, document_id text not null, uri text not null,
         chunk_index integer not null, payload jsonb not null, embedding vector(3) not null
       )`;
    await db.exec(`${oldTable("old_a")}; ${oldTable("old_b")}`);
    const point = (name: string, i: number, text: string): VectorPoint => ({
      id: pointId(name, { uri: "/d/a.txt", ordinal: i }),
      vector: [1, i, 0],
      payload: { collection_id: name, document_id: "d", uri: "/d/a.txt", chunk_index: i },
      text,
    });
    const columns = async (name: string) =>
      (await db.query<{ attname: string }>(
        `select attname from pg_attribute where attrelid = to_regclass($1) and attnum > 0
          order by attnum`,
        [`vec_${name}`],
      )).map((r) => r.attname);
    const indexes = async (name: string) =>
      (await db.query<{ indexname: string }>(
        "select indexname from pg_indexes where tablename = $1 order by indexname",
        [`vec_${name}`],
      )).map((r) => r.indexname);

    // Reads of the old table find nothing lexically, and do not fail.
    assert.deepEqual(await store.lexicalSearch("old_a", "SKIP LOCKED", { k: 5 }), []);
    // An upsert with text adds the column and writes the terms.
    await store.upsert("old_a", [point("old_a", 1, "FOR UPDATE SKIP LOCKED")]);
    assert.deepEqual((await columns("old_a")).slice(-1), ["lexical"]);
    assert.ok((await indexes("old_a")).includes("vec_old_a_lex"));
    const hits = await store.lexicalSearch("old_a", "SKIP LOCKED", { k: 5 });
    assert.deepEqual(hits.map((h) => h.payload.chunk_index), [1]);

    // ensureCollection() upgrades an old table too, keeping its rows (no terms yet).
    await db.query(
      `insert into vec_old_b values ($1, 'd', '/d/a.txt', 0, '{"collection_id":"old_b",
        "document_id":"d","uri":"/d/a.txt","chunk_index":0}', '[1,0,0]')`,
      [pointId("old_b", { uri: "/d/a.txt", ordinal: 0 })],
    );
    await store.ensureCollection("old_b", 3);
    assert.ok((await columns("old_b")).includes("lexical"));
    assert.ok((await indexes("old_b")).includes("vec_old_b_lex"));
    assert.equal(await store.count("old_b"), 1);
    assert.deepEqual(await store.lexicalSearch("old_b", "anything", { k: 5 }), []);
    await store.ensureCollection("old_b", 3); // idempotent
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: a table of the first lexical layout (terms text, generated tsvector) keeps working", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db);
    await store.ready();
    await db.exec(
      `create table vec_first (
         id uuid primary key, document_id text not null, uri text not null,
         chunk_index integer not null, payload jsonb not null, embedding vector(3) not null,
         lexical_terms text not null default '',
         lexical tsvector generated always as (to_tsvector('simple'::regconfig, lexical_terms))
           stored
       )`,
    );
    const id = pointId("first", { uri: "/a", ordinal: 0 });
    await store.upsert("first", [{
      id,
      vector: [1, 0, 0],
      payload: { collection_id: "c", document_id: "d", uri: "/a", chunk_index: 0 },
      text: "LISTEN and pg_notify",
    }]);
    assert.deepEqual((await store.lexicalSearch("first", "pg_notify", { k: 3 })).map((h) => h.id), [
      id,
    ]);
    await store.setLexical("first", [{ id, text: "SKIP LOCKED" }]);
    assert.deepEqual(await store.lexicalSearch("first", "pg_notify", { k: 3 }), []);
    assert.equal((await store.lexicalSearch("first", "skip", { k: 3 }))[0]?.id, id);
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: lexical search ranks a bounded candidate set, the chunks holding every word first", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db, { batchSize: 500 });
    await store.ensureCollection("bounded", 3);
    const n = LEXICAL_CANDIDATES + 300;
    // Every chunk holds "common"; one, written last, holds "common rare" too.
    const points: VectorPoint[] = Array.from({ length: n }, (_, i) => ({
      id: pointId("bounded", { uri: "/a", ordinal: i }),
      vector: [1, i, 0],
      payload: { collection_id: "c", document_id: `d${i}`, uri: "/a", chunk_index: i },
      text: i === n - 1 ? "common and rare" : `common filler ${i}`,
    }));
    await store.upsert("bounded", points);
    const hits = await store.lexicalSearch("bounded", "common rare", { k: 5 });
    assert.equal(hits[0]!.payload.chunk_index, n - 1);
    assert.equal(hits.length, 5);
    // The chunks that hold only some words are at most LEXICAL_CANDIDATES.
    const deep = await store.lexicalSearch("bounded", "common", { k: 1000 });
    assert.equal(deep.length, LEXICAL_CANDIDATES);
  } finally {
    await db.close();
  }
});

/** `n` points of collection `name`, chunk i's text from `text(i)`. */
function textPoints(name: string, n: number, text: (i: number) => string): VectorPoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: pointId(name, { uri: "/a", ordinal: i }),
    vector: [1, i, 0],
    payload: { collection_id: "c", document_id: `d${i}`, uri: "/a", chunk_index: i },
    text: text(i),
  }));
}

/** The lexical column's most common terms in the table's statistics (empty: none). */
async function commonTerms(db: Db, name: string): Promise<string[]> {
  const rows = await db.query<{ elems: string[] | null }>(
    `select most_common_elems::text::text[] as elems from pg_stats
      where tablename = $1 and attname = 'lexical'`,
    [`vec_${name}`],
  );
  return rows[0]?.elems ?? [];
}

/** Pages of the table's GIN pending list that a merge now moves into the tree (0: none pending). */
async function pendingTermPages(db: Db, name: string): Promise<number> {
  const [row] = await db.query<{ pages: number }>(
    `select gin_clean_pending_list($1::regclass)::int as pages`,
    [`vec_${name}_lex`],
  );
  return row!.pages;
}

Deno.test("pgvector: writes of terms merge the GIN pending list (searches read it whole), and so does finishing a bulk load", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db, { batchSize: 100 });
    await store.ensureCollection("pending", 3);
    await store.upsert("pending", textPoints("pending", 20, (i) => `alpha beta ${i}`));
    assert.ok(await pendingTermPages(db, "pending") > 0, "a few rows stay pending");
    await store.upsert("pending", textPoints("pending", GIN_MERGE_ROWS, (i) => `gamma ${i}`));
    assert.equal(await pendingTermPages(db, "pending"), 0);
    // setLexical writes terms too.
    const ids = textPoints("pending", GIN_MERGE_ROWS, () => "").map((p) => p.id);
    await store.setLexical("pending", ids.map((id, i) => ({ id, text: `delta epsilon ${i}` })));
    assert.equal(await pendingTermPages(db, "pending"), 0);

    await store.ensureCollection("loaded", 3, { bulkLoad: true });
    await store.upsert("loaded", textPoints("loaded", 30, (i) => `alpha beta ${i}`));
    await store.finishBulkLoad("loaded");
    assert.equal(await pendingTermPages(db, "loaded"), 0);
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: an upsert that changed enough of its table analyzes it (term statistics)", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db, { batchSize: 500 });
    await store.ensureCollection("stats", 3);
    await store.upsert("stats", textPoints("stats", 10, (i) => `common few ${i}`));
    assert.deepEqual(await commonTerms(db, "stats"), [], "10 rows changed: not analyzed yet");
    await store.upsert(
      "stats",
      textPoints("stats", ANALYZE_MIN_ROWS + 10, (i) => `common filler ${i}`),
    );
    const terms = await commonTerms(db, "stats");
    assert.ok(terms.includes("common"), `most common terms after the upsert: ${terms}`);
    assert.ok(!terms.includes("few"), `"few" was overwritten: ${terms}`);
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: lexical search ranks every chunk of a rare word, however many a common word fills", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db, { batchSize: 500 });
    await store.ensureCollection("rare", 3);
    // Enough to be analyzed, and more than the bounded lists take.
    const n = Math.max(4 * LEXICAL_CANDIDATES, 2 * ANALYZE_MIN_ROWS);
    // Every chunk but the last holds "common" (more than the bounded lists take, all read before
    // the last in table order); the last holds "zebra" only.
    await store.upsert(
      "rare",
      textPoints("rare", n, (i) => i === n - 1 ? "zebra crossing" : `common filler ${i}`),
    );
    const hits = await store.lexicalSearch("rare", "common zebra", { k: 3 });
    assert.equal(hits[0]?.payload.chunk_index, n - 1, JSON.stringify(hits.map((h) => h.payload)));
    // k hits all the same: the rare word is in one chunk, the common word fills the rest.
    assert.equal(hits.length, 3, JSON.stringify(hits.map((h) => h.payload)));
    assert.ok(hits.slice(1).every((h) => h.payload.chunk_index < n - 1));
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: a hybrid hit deleted between the lists and the payload read is left out", async () => {
  const base = await openPglite();
  let deleteBeforePayloads: string | undefined;
  // As a server's driver (an embedded one reads the lists and payloads in one statement), whose
  // transactions and queries reach the same PGlite.
  const db: Db = {
    ...base,
    driver: "postgres",
    async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
      if (deleteBeforePayloads && sql.includes("id = any($1::uuid[])") && sql.includes("payload")) {
        await base.query(`delete from vec_gone where id = $1`, [deleteBeforePayloads]);
        deleteBeforePayloads = undefined;
      }
      return await base.query<T>(sql, params);
    },
  };
  try {
    const store = new PgvectorStore(db);
    await store.ensureCollection("gone", 3);
    const points = textPoints("gone", 3, (i) => `alpha ${i}`);
    await store.upsert("gone", points);
    deleteBeforePayloads = points[0]!.id;
    const hits = await store.hybridSearch("gone", [1, 0, 0], "alpha", { k: 3 });
    assert.equal(deleteBeforePayloads, undefined, "the payload read happened");
    assert.deepEqual(hits.map((h) => h.id).sort(), [points[1]!.id, points[2]!.id].sort());
    for (const h of hits) assert.equal(h.payload.uri, "/a");
  } finally {
    await base.close();
  }
});

Deno.test("pgvector: query terms Postgres' parser changes (x², non-ASCII) match as the chunk text's did", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db);
    await store.ensureCollection("parsed", 3);
    const points = textPoints(
      "parsed",
      3,
      (i) => ["the area is x² over two", "naïve café résumé", "plain ascii words"][i]!,
    );
    await store.upsert("parsed", points);
    // The tokenizer keeps `x²` whole; Postgres' parser, which made the chunk's lexemes, drops
    // the `²`: the query must be read as the parser reads it.
    for (const [query, want] of [["x²", 0], ["café", 1], ["Résumé naïve", 1], ["ascii", 2]]) {
      const hits = await store.lexicalSearch("parsed", query as string, { k: 3 });
      assert.equal(hits[0]?.payload.chunk_index, want, `${query}: ${JSON.stringify(hits)}`);
      const hybrid = await store.hybridSearch("parsed", [0, 0, 1], query as string, { k: 3 });
      assert.equal(
        hybrid.find((h) => h.lexical !== null)?.payload.chunk_index,
        want,
        `hybrid ${query}: ${JSON.stringify(hybrid)}`,
      );
    }
  } finally {
    await db.close();
  }
});

Deno.test("pgvector: each lexical list is scanned as the statistics say it costs least, and a list that cannot add is not read", async () => {
  const base = await openPglite();
  const db = recording(base);
  try {
    const store = new PgvectorStore(db, { batchSize: 500 });
    await store.ensureCollection("scans", 3);
    // Analyzed (enough rows): "common" is in every chunk, "zebra" in three (7, 407, 807).
    const n = 2 * ANALYZE_MIN_ROWS;
    await store.upsert(
      "scans",
      textPoints("scans", n, (i) => i % 400 === 7 ? `common zebra ${i}` : `common filler ${i}`),
    );
    const reads = () => db.statements.filter((sql) => /from vec_scans\b/.test(sql));
    const scanSettings = () =>
      db.statements.flatMap((sql, i) => sql.includes("enable_seqscan") ? [db.params[i]![0]] : []);
    const forget = () => {
      db.statements.length = 0;
      db.params.length = 0;
    };

    // A word in every chunk: a scan that stops at the limit (no setting: the default allows it).
    forget();
    assert.equal((await store.lexicalSearch("scans", "common", { k: 5 })).length, 5);
    assert.deepEqual(scanSettings(), []);
    assert.equal(reads().length, 1);

    // A word in three chunks: through the index (sequential scans barred for the statement), and
    // with fewer than k found, the lists after the first would read the same word again: none is.
    forget();
    const hits = await store.lexicalSearch("scans", "zebra", { k: 5 });
    assert.deepEqual(hits.map((h) => h.payload.chunk_index).sort((a, b) => a - b), [7, 407, 807]);
    assert.deepEqual(scanSettings(), ["off"]);
    assert.equal(reads().length, 1, reads().join("\n---\n"));
  } finally {
    await base.close();
  }
});

Deno.test("pgvector on PGlite: a hybrid search reads both lists and their payloads in one statement", async () => {
  const base = await openPglite();
  const db = recording(base);
  try {
    const store = new PgvectorStore(db);
    await store.ensureCollection("one", 3);
    // Every chunk holds the query's word: the lexical list is full, no list after it is read.
    const points = textPoints("one", 40, (i) => `alpha filler ${i}`);
    await store.upsert("one", points);
    await store.hybridSearch("one", [1, 0, 0], "alpha", { k: 5 }); // warms the lookups
    db.statements.length = 0;
    const hits = await store.hybridSearch("one", [1, 0, 0], "alpha", { k: 5 });
    assert.equal(hits.length, 5);
    assert.ok(hits.every((h) => h.dense !== null && h.lexical !== null && h.payload.uri === "/a"));
    const reads = db.statements.filter((sql) => /from vec_one\b/.test(sql));
    assert.equal(reads.length, 1, `statements reading the table: ${reads.join("\n---\n")}`);
  } finally {
    await base.close();
  }
});

Deno.test("pgvector: the lexical column is a tsvector of the tokenizer's terms, no copy of the text", async () => {
  const db = await openPglite();
  try {
    const store = new PgvectorStore(db);
    await store.ensureCollection("lex_terms", 3);
    await store.upsert("lex_terms", [{
      id: pointId("lex_terms", { uri: "/a", ordinal: 0 }),
      vector: [1, 0, 0],
      payload: { collection_id: "c", document_id: "d", uri: "/a", chunk_index: 0 },
      text: "COPY ... FORCE_NOT_NULL; pg_notify(getUserName)",
    }]);
    const [row] = await db.query<{ lexical: string }>(
      "select lexical::text as lexical from vec_lex_terms",
    );
    assert.equal(
      row!.lexical,
      "'copy':1 'force':2 'forcenotnull':5 'get':9 'getusername':12 'name':11 'not':3 " +
        "'notify':7 'null':4 'pg':6 'pgnotify':8 'user':10",
    );
    const cols = await db.query<{ attname: string }>(
      `select attname from pg_attribute where attrelid = 'vec_lex_terms'::regclass
        and attnum > 0 and not attisdropped order by attnum`,
    );
    assert.ok(!cols.some((c) => c.attname === "lexical_terms"));
  } finally {
    await db.close();
  }
});

Deno.test("pgvector store: with readDb, searches and their alias lookups read there; setup, writes and counts do not", async () => {
  const pg = await openPglite();
  const primary = recording(pg);
  const reader = recording(pg);
  const store = new PgvectorStore(primary, { readDb: reader });
  try {
    await store.ensureCollection("col_read_1", 3);
    await store.setAlias("col_read", "col_read_1");
    await store.upsert("col_read", [{
      ...point("col_read_1", "/a", 0, [1, 0, 0]),
      text: "replica reads",
    }]);
    assert.equal(await store.count("col_read"), 1);
    assert.equal(reader.statements.length, 0, "nothing but searches reads the replica");
    const written = primary.statements.length;

    const dense = await store.search("col_read", [1, 0, 0], { k: 5 });
    const filtered = await store.search("col_read", [1, 0, 0], { k: 5, uriPrefix: "/a" });
    const lexical = await store.lexicalSearch("col_read", "replica", { k: 5 });
    const hybrid = await store.hybridSearch("col_read", [1, 0, 0], "reads", {
      k: 5,
      depth: 10,
      rrfK: 60,
    });
    for (const hits of [dense, filtered, lexical, hybrid]) assert.equal(hits.length, 1);
    assert.equal(primary.statements.length, written, primary.statements.slice(written).join("\n"));
    assert.ok(reader.statements.some((s) => s.includes("from vector_aliases")));
    assert.ok(reader.statements.some((s) => s.includes("embedding <=>")));
    assert.ok(reader.statements.some((s) => s.includes("ts_rank")));
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pgvector store: upserts still write after the vector extension was made again (new type oids)", async () => {
  const db = await openPglite();
  const store = new PgvectorStore(db);
  try {
    await store.ensureCollection("col_oid", 2);
    await store.upsert("col_oid", [point("col_oid", "/a", 0, [1, 0])]);
    const before = await db.query<{ oid: number }>("select 'vector'::regtype::oid::int8 as oid");
    await db.exec("drop extension vector cascade; drop table vec_col_oid; create extension vector");
    const after = await db.query<{ oid: number }>("select 'vector'::regtype::oid::int8 as oid");
    assert.notEqual(after[0]!.oid, before[0]!.oid);
    await store.ensureCollection("col_oid", 2);
    await store.upsert("col_oid", [point("col_oid", "/b", 0, [0, 1])]);
    const rows = await db.query<{ uri: string; v: string }>(
      "select uri, embedding::text as v from vec_col_oid",
    );
    assert.deepEqual(rows, [{ uri: "/b", v: "[0,1]" }]);
  } finally {
    await store.close();
    await db.close();
  }
});

Deno.test("pgvector store: an unfiltered search's statement walks the HNSW index (its binary query vector is a constant to the planner)", async () => {
  const pg = await openPglite();
  const db = recording(pg);
  const store = new PgvectorStore(db);
  try {
    await store.ensureCollection("col_plan", 4);
    await store.upsert(
      "col_plan",
      Array.from({ length: 50 }, (_, i) => point("col_plan", `/p/${i}`, 0, [1, i, 2, -i])),
    );
    db.statements.length = 0;
    db.params.length = 0;
    assert.equal((await store.search("col_plan", [1, 2, 3, 4], { k: 3 })).length, 3);
    const at = db.statements.findIndex((s) => s.includes("order by embedding <=>"));
    assert.ok(at >= 0, `no search statement among: ${db.statements.join(" | ")}`);
    // The planner scans a table this small; forbid that, as a large table's costs would.
    await pg.query("set enable_seqscan = off");
    const plan = await pg.query<{ "QUERY PLAN": string }>(
      `explain ${db.statements[at]}`,
      db.params[at],
    );
    const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
    assert.match(text, /Index Scan using vec_col_plan_hnsw on vec_col_plan/, text);
  } finally {
    await store.close();
    await pg.close();
  }
});
