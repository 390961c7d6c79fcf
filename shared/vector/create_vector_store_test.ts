import assert from "node:assert/strict";
import { loadConfig } from "../config/config.ts";
import { openPglite } from "../db/pglite_driver.ts";
import {
  createServerTestDb,
  hnswIndexCount,
  testDatabaseUrl,
  testServerOffersPgvector,
  withSearchPath,
} from "../testing/db.ts";
import { createVectorStore } from "./create_vector_store.ts";

Deno.test("createVectorStore() picks qdrant when QDRANT_URL is set", async () => {
  const store = createVectorStore(loadConfig({ QDRANT_URL: "http://127.0.0.1:1" }, "/tmp"));
  assert.equal(store.kind, "qdrant");
  await store.close();
  assert.throws(
    () =>
      createVectorStore({
        vectorStore: "qdrant",
        qdrantUrl: undefined,
        qdrantApiKey: undefined,
        vectorDatabaseUrl: undefined,
      }),
    /QDRANT_URL is not set/,
  );
});

Deno.test("createVectorStore() uses the main database without closing it", async () => {
  const db = await openPglite();
  try {
    const store = createVectorStore(loadConfig({}, "/tmp"), { db });
    assert.equal(store.kind, "pgvector");
    assert.deepEqual(await store.ready(), { ok: true });
    await store.close();
    assert.deepEqual(await db.query("select 1 as one"), [{ one: 1 }]);
  } finally {
    await db.close();
  }
  assert.throws(() => createVectorStore(loadConfig({}, "/tmp")), /no database was given/);
});

Deno.test({
  name: "createVectorStore() opens and owns a connection to VECTOR_DATABASE_URL",
  // It needs a server without pgvector (CI's); a developer's may offer it.
  ignore: await testServerOffersPgvector(),
}, async () => {
  // The test server has no vector extension: the store opens, reports why, and closes.
  const t = await createServerTestDb({ migrate: false, max: 1 });
  try {
    const url = withSearchPath(testDatabaseUrl(), t.schema!);
    const store = createVectorStore(loadConfig({ VECTOR_DATABASE_URL: url }, "/tmp"));
    assert.equal(store.kind, "pgvector");
    const r = await store.ready();
    assert.ok(!r.ok);
    assert.match(r.reason, /vector extension is not installed/);
    await store.close();
    await store.close();
  } finally {
    await t.cleanup();
  }
});

Deno.test("createVectorStore() gives the pgvector store PGVECTOR_INDEXING_THRESHOLD_KB", async () => {
  const db = await openPglite();
  try {
    // 1 KB is 4 points of 64 dimensions: an empty collection stays unindexed; 0 indexes at once.
    for (
      const [kb, name, indexes] of [["1", "col_thresholded", 0], ["0", "col_indexed", 1]] as const
    ) {
      const store = createVectorStore(loadConfig({ PGVECTOR_INDEXING_THRESHOLD_KB: kb }, "/tmp"), {
        db,
      });
      await store.ensureCollection(name, 64);
      assert.equal(await hnswIndexCount(db, name), indexes, `threshold ${kb} KB`);
      await store.close();
    }
  } finally {
    await db.close();
  }
});
