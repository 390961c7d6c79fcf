/**
 * Removing a source and deleting a collection through the functions the API calls, with a
 * worker: remove_source takes one source's documents, chunks and points and leaves the other's;
 * delete leaves no vectors, chunks, documents, sources, collection or event streams, and its own
 * operation record (and events) stay.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EventKeys, KeySpace } from "@semantik/shared";
import {
  addSource,
  createCollection,
  deleteCollection,
  getCollection,
  removeSource,
} from "../api/collections/collections.ts";
import { waitFor } from "@semantik/shared/testing";
import { withIndexingEnv, writeFiles } from "./indexing_env.ts";

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Paragraph ${i} about ${topic} and its many details.`)
    .join("\n\n");

for (const driver of ["postgres", "pglite"] as const) {
  Deno.test(`[${driver}] remove_source keeps the other source; delete leaves nothing but its own record`, async () => {
    await withIndexingEnv({ driver }, async (env) => {
      const a = await writeFiles(join(env.root, "a"), {
        "one.md": para("apples", 12),
        "two.txt": para("apricots", 8),
        "sub/three.md": para("avocados", 5),
      });
      const b = await writeFiles(join(env.root, "b"), {
        "four.md": para("bananas", 10),
        "five.txt": para("blueberries", 6),
      });
      const { collection, operation } = await createCollection(env.deps, {
        userId: env.userId,
        input: {
          name: "fruit",
          source: { type: "directory", path: a },
        },
      });
      const indexed = await env.waitForOperation(operation!.id);
      assert.equal(indexed.status, "completed", indexed.error_message ?? "");
      const appended = await addSource(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        source: {
          type: "directory",
          path: b,
        },
      });
      assert.equal(appended.operation.type, "append");
      const done = await env.waitForOperation(appended.operation.id);
      assert.equal(done.status, "completed", done.error_message ?? "");
      assert.equal((done.metadata as Record<string, number>).documents_processed, 2);

      const all = await env.counts(collection.id);
      assert.equal(all.documents, 5);
      assert.equal(all.vectors, all.chunks);
      const bDocs = await env.db.db.query<{ id: string; chunk_count: number }>(
        "select id, chunk_count from documents where source_id = $1",
        [appended.source.id],
      );
      const bChunks = bDocs.reduce((n, d) => n + d.chunk_count, 0);

      const aSource =
        (await getCollection(env.deps, { userId: env.userId, collectionId: collection.id })).sources
          .find((s) => s.type === "directory" && s.path === a)!;
      const removal = await removeSource(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
        sourceId: aSource.id,
      });
      const removed = await env.waitForOperation(removal.id);
      assert.equal(removed.status, "completed", removed.error_message ?? "");
      const rm = removed.metadata as Record<string, number>;
      assert.equal(rm.documents_removed, 3);
      assert.equal(rm.chunks_removed, all.chunks - bChunks);
      const left = await env.counts(collection.id);
      assert.deepEqual(left, {
        chunks: bChunks,
        vectors: bChunks,
        documents: 2,
        chunkCountSum: bChunks,
      });
      const sources =
        (await getCollection(env.deps, { userId: env.userId, collectionId: collection.id }))
          .sources;
      assert.deepEqual(sources.map((s) => (s.type === "directory" ? s.path : null)), [b]);
      // The remaining points are all source b's.
      const hits = await env.vectors.search(alias(collection.id), unit(32), { k: 1000 });
      const bIds = new Set(bDocs.map((d) => d.id));
      assert.equal(hits.length, bChunks);
      assert.ok(hits.every((h) => bIds.has(h.payload.document_id)));

      const keys = new EventKeys(new KeySpace(env.redis.prefix));
      const earlier = [operation!.id, appended.operation.id, removal.id];
      for (const id of earlier) {
        assert.equal(await env.redis.redis.exists(keys.stream(id)), 1, `stream of ${id}`);
      }
      const physical = await env.vectors.resolveAlias(alias(collection.id));
      assert.ok(physical);

      const del = await deleteCollection(env.deps, {
        userId: env.userId,
        collectionId: collection.id,
      });
      const deleted = await env.waitForOperation(del.id);
      assert.equal(deleted.status, "completed", deleted.error_message ?? "");
      const dm = deleted.metadata as Record<string, number>;
      assert.equal(dm.documents_deleted, 2);
      assert.equal(dm.chunks_deleted, bChunks);
      assert.equal(dm.vectors_deleted, bChunks);

      for (
        const table of ["collections", "collection_sources", "documents", "chunks"] as const
      ) {
        const col = table === "collections" ? "id" : "collection_id";
        const [n] = await env.db.db.query<{ n: number }>(
          `select count(*)::int as n from ${table} where ${col} = $1`,
          [collection.id],
        );
        assert.equal(n!.n, 0, table);
      }
      assert.equal(await env.vectors.resolveAlias(alias(collection.id)), undefined);
      assert.equal(await env.vectors.count(physical), 0);
      assert.equal(await env.vectors.count(alias(collection.id)), 0);
      // Upserting into the old collection fails: it no longer exists.
      await assert.rejects(env.vectors.upsert(physical, [{
        id: crypto.randomUUID(),
        vector: unit(32),
        payload: { collection_id: collection.id, document_id: "x", uri: "/x", chunk_index: 0 },
      }]));
      for (const id of earlier) {
        assert.equal(await env.redis.redis.exists(keys.stream(id), keys.seq(id)), 0, id);
      }
      // The delete operation's record and events stay; every operation record stays.
      await waitFor(
        "the delete's terminal event",
        async () => (await env.redis.redis.xlen(keys.stream(del.id))) > 0,
      );
      const ops = await env.db.db.query<{ id: string; status: string }>(
        "select id, status from operations where collection_id = $1",
        [collection.id],
      );
      assert.equal(ops.length, 4);
      assert.ok(ops.every((o) => o.status === "completed"));
    });
  });
}

function alias(collectionId: string): string {
  return `col_${collectionId.replaceAll("-", "")}`;
}

function unit(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0));
}
