/**
 * Bulk loads through the worker: a collection's first index and a reindex's new generation are
 * written without the vector collection's ANN index, which is built once the points are in
 * (`finishBulkLoad`); a later operation on an indexed collection writes into its index as before.
 * The vector store is a pgvector store on a PGlite of its own, wrapped to record the calls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openPglite, PgvectorStore, type VectorStore } from "@semantik/shared";
import {
  createCollection,
  reindexCollection,
  syncCollection,
} from "../api/collections/collections.ts";
import { hnswIndexCount } from "@semantik/shared/testing";
import { withIndexingEnv, writeFiles } from "./indexing_env.ts";

interface Call {
  method: string;
  name: string;
  bulkLoad?: boolean;
}

/** The store, recording every call's method, collection name and (ensureCollection) bulkLoad. */
function recorded(store: VectorStore): { store: VectorStore; calls: Call[] } {
  const calls: Call[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const call: Call = { method: String(prop), name: String(args[0]) };
        if (prop === "ensureCollection") {
          call.bulkLoad = (args[2] as { bulkLoad?: boolean } | undefined)?.bulkLoad ?? false;
        }
        calls.push(call);
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const alias = (id: string) => `col_${id.replaceAll("-", "")}`;

Deno.test("a first index and a reindex's new generation are bulk loads: the HNSW index is built after the last point; a sync writes into the index", async () => {
  const vectorDb = await openPglite();
  const { store, calls } = recorded(new PgvectorStore(vectorDb));
  const hnsw = (physical: string) => hnswIndexCount(vectorDb, physical);
  try {
    await withIndexingEnv({ vectors: store }, async (env) => {
      const files = Object.fromEntries(
        Array.from({ length: 6 }, (_, i) => [
          `doc-${i}.md`,
          `Document ${i} on topic ${i}.\n\n`.repeat(8),
        ]),
      );
      const src = await writeFiles(join(env.root, "bulk"), files);
      const { collection, operation } = await createCollection(env.deps, {
        userId: env.userId,
        input: { name: "bulk", source: { type: "directory", path: src } },
      });
      const done = await env.waitForOperation(operation!.id);
      assert.equal(done.status, "completed", done.error_message ?? "");
      const g1 = `${alias(collection.id)}_g1`;

      const first = calls.filter((c) => c.name === g1);
      assert.deepEqual(first[0], { method: "ensureCollection", name: g1, bulkLoad: true });
      const lastUpsert = first.findLastIndex((c) => c.method === "upsert");
      const finish = first.findIndex((c) => c.method === "finishBulkLoad");
      assert.ok(lastUpsert > 0, `no upsert: ${JSON.stringify(first)}`);
      assert.ok(
        finish > lastUpsert,
        `finishBulkLoad not after the last upsert: ${JSON.stringify(first)}`,
      );
      assert.equal(await hnsw(g1), 1, "the first index left its collection without an HNSW index");
      const counts = await env.counts(collection.id);
      assert.equal(counts.vectors, counts.chunks);

      // A sync of the indexed collection: a plain ensureCollection, no bulk load.
      calls.length = 0;
      await Deno.writeTextFile(join(src, "doc-0.md"), "Changed text on another subject.\n");
      const sync = await env.waitForOperation(
        (await syncCollection(env.deps, { userId: env.userId, collectionId: collection.id })).id,
      );
      assert.equal(sync.status, "completed", sync.error_message ?? "");
      assert.deepEqual(
        calls.filter((c) => c.method === "ensureCollection" || c.method === "finishBulkLoad"),
        [{ method: "ensureCollection", name: g1, bulkLoad: false }],
      );

      // A reindex: generation 2 is a bulk load whose index is built before the switch.
      calls.length = 0;
      const reindex = await reindexCollection(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        input: { chunk_size: 40, chunk_overlap: 8 },
      });
      const reindexed = await env.waitForOperation(reindex.id);
      assert.equal(reindexed.status, "completed", reindexed.error_message ?? "");
      const g2 = `${alias(collection.id)}_g2`;
      const seq = calls.map((c) => `${c.method}(${c.name}${c.bulkLoad ? ", bulk" : ""})`);
      const at = (s: string) => seq.indexOf(s);
      assert.ok(at(`ensureCollection(${g2}, bulk)`) >= 0, seq.join(" "));
      assert.ok(at(`finishBulkLoad(${g2})`) > seq.lastIndexOf(`upsert(${g2})`), seq.join(" "));
      assert.ok(
        at(`setAlias(${alias(collection.id)})`) > at(`finishBulkLoad(${g2})`),
        seq.join(" "),
      );
      assert.equal(await hnsw(g2), 1, "the new generation was switched to without its HNSW index");
    });
  } finally {
    await store.close();
    await vectorDb.close();
  }
});
