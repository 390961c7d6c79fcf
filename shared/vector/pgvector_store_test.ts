import assert from "node:assert/strict";
import type { Db, Queryable, SqlParam } from "../db/db.ts";
import { openPglite } from "../db/pglite_driver.ts";
import { AppError } from "../errors.ts";
import { createServerTestDb } from "../testing/db.ts";
import { PgvectorStore } from "./pgvector_store.ts";
import { pointId } from "./point_id.ts";
import { matchesUriPrefix } from "./uri_prefix.ts";
import type { VectorPoint } from "./vector_store.ts";

/** A Db that records every statement and can fail chosen ones, around a real database. */
function recording(
  db: Db,
  failExec?: (sql: string) => Error | undefined,
): Db & { statements: string[] } {
  const statements: string[] = [];
  return {
    driver: db.driver,
    statements,
    query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
      statements.push(sql);
      return db.query<T>(sql, params);
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) =>
        fn({
          query<U>(sql: string, params?: readonly SqlParam[]) {
            statements.push(sql);
            return tx.query<U>(sql, params);
          },
        })
      );
    },
    async exec(sql: string): Promise<void> {
      statements.push(sql);
      await db.exec(sql);
      const err = failExec?.(sql);
      if (err) throw err;
    },
    close: () => db.close(),
  };
}

function point(collection: string, uri: string, i: number, vector: number[]): VectorPoint {
  return {
    id: pointId(collection, uri, i),
    vector,
    payload: { collection_id: collection, document_id: `doc:${uri}`, uri, chunk_index: i },
  };
}

Deno.test("pgvector store: ready() explains a server without the vector extension", async () => {
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
