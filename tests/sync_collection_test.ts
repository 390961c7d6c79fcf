/**
 * `sync.sync_collection` end to end with a worker: an added, a modified, a deleted and a renamed
 * file each end up right; text removed from a file is no longer found by search; the counts
 * agree; a sync with no change changes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCollection, getCollection, syncCollection } from "../api/collections/collections.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { TINY_MODEL_NAME } from "@semantik/shared/testing";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Line ${i} on ${topic}, with a few more words.`).join("\n\n");

function searchDeps(env: IndexingEnv): SearchDeps {
  return {
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text) =>
      (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
  };
}

/** Every chunk text search returns for `query` (k covers the whole collection). */
async function found(env: IndexingEnv, collectionId: string, query: string): Promise<string[]> {
  const { results } = await search(searchDeps(env), {
    userId: env.userId,
    request: {
      query,
      collection_ids: [collectionId],
      k: 100,
      mode: "dense",
    },
  });
  return results.map((r) => r.text);
}

Deno.test("sync applies an added, a modified, a deleted and a renamed file; a sync with no change changes nothing", async () => {
  await withIndexingEnv({}, async (env) => {
    const src = await writeFiles(join(env.root, "src"), {
      "keep.md": para("keeping", 4),
      "modify.md": para("changing", 3) + "\n\nThe OLDMARKER sentence goes away soon.",
      "delete.md": para("deleting", 3),
      "rename-from.md": para("moving", 5),
    });
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "synced",
        source: { type: "directory", path: src },
      },
    });
    const first = await env.waitForOperation(operation!.id);
    assert.equal(first.status, "completed", first.error_message ?? "");
    const docIds = async () =>
      new Map(
        (await env.db.db.query<{ uri: string; id: string; status: string; content_hash: string }>(
          "select uri, id, status, content_hash from documents where collection_id = $1",
          [collection.id],
        )).map((d) => [d.uri.slice(src.length + 1), d]),
      );
    const before = await docIds();
    assert.ok((await found(env, collection.id, "OLDMARKER")).some((t) => t.includes("OLDMARKER")));

    await writeFiles(src, {
      "added.md": para("adding", 3),
      "modify.md": para("changing", 3) + "\n\nA NEWMARKER sentence replaced it.",
    });
    await Deno.remove(join(src, "delete.md"));
    await Deno.mkdir(join(src, "sub"));
    await Deno.rename(join(src, "rename-from.md"), join(src, "sub", "rename-to.md"));

    const op = await syncCollection(env.deps, { userId: env.userId, collectionId: collection.id });
    assert.equal(op.type, "sync");
    const synced = await env.waitForOperation(op.id);
    assert.equal(synced.status, "completed", synced.error_message ?? "");
    const m = synced.metadata as Record<string, number>;
    assert.deepEqual(
      [m.added, m.modified, m.deleted, m.documents_processed, m.documents_total],
      [2, 1, 2, 3, 4],
    );

    const after = await docIds();
    assert.equal(after.get("keep.md")!.id, before.get("keep.md")!.id);
    assert.equal(after.get("modify.md")!.id, before.get("modify.md")!.id);
    assert.notEqual(after.get("modify.md")!.content_hash, before.get("modify.md")!.content_hash);
    assert.equal(after.get("delete.md")!.status, "deleted");
    assert.equal(after.get("rename-from.md")!.status, "deleted");
    assert.equal(after.get("sub/rename-to.md")!.status, "completed");
    assert.equal(after.get("added.md")!.status, "completed");
    assert.notEqual(after.get("sub/rename-to.md")!.id, before.get("rename-from.md")!.id);

    const counts = await env.counts(collection.id);
    assert.equal(counts.documents, 4);
    assert.equal(counts.vectors, counts.chunks);
    assert.equal(counts.chunkCountSum, counts.chunks);
    const json = await getCollection(env.deps, { userId: env.userId, collectionId: collection.id });
    assert.equal(json.status, "ready");
    assert.equal(json.document_count, 4);
    assert.equal(json.chunk_count, json.vector_count);

    // Search no longer finds the removed text, finds the new one, and nothing of the gone files.
    const texts = await found(env, collection.id, "OLDMARKER");
    assert.equal(texts.length, counts.chunks, "k covers every chunk");
    assert.ok(!texts.some((t) => t.includes("OLDMARKER")));
    assert.ok(texts.some((t) => t.includes("NEWMARKER")));
    assert.ok(!texts.some((t) => t.includes("deleting")));
    const gone = [after.get("delete.md")!.id, after.get("rename-from.md")!.id];
    const hits = await env.vectors.search(
      `col_${collection.id.replaceAll("-", "")}`,
      Array.from({ length: 32 }, (_, i) => (i === 1 ? 1 : 0)),
      { k: 1000 },
    );
    assert.equal(hits.length, counts.chunks);
    assert.ok(!hits.some((h) => gone.includes(h.payload.document_id)));
    const [row] = await env.db.db.query<{ last_synced_at: Date | null }>(
      "select last_synced_at from collections where id = $1",
      [collection.id],
    );
    assert.ok(row!.last_synced_at);

    // Nothing changed: nothing changes.
    const snapshot = () =>
      env.db.db.query(
        `select d.id, d.status, d.updated_at, d.content_hash,
                (select array_agg(k.id order by k.id) from chunks k where k.document_id = d.id) as chunks
           from documents d where d.collection_id = $1 order by d.id`,
        [collection.id],
      );
    const still = await snapshot();
    const again = await env.waitForOperation(
      (await syncCollection(env.deps, { userId: env.userId, collectionId: collection.id })).id,
    );
    assert.equal(again.status, "completed", again.error_message ?? "");
    const m2 = again.metadata as Record<string, number>;
    assert.deepEqual(
      [m2.added, m2.modified, m2.deleted, m2.documents_processed, m2.documents_unchanged],
      [0, 0, 0, 0, 4],
    );
    assert.deepEqual(await snapshot(), still);
    assert.deepEqual(await env.counts(collection.id), counts);
  });
});

Deno.test("a sync whose source directory is gone fails at once and leaves the documents as they were", async () => {
  await withIndexingEnv({}, async (env) => {
    const src = await writeFiles(join(env.root, "vanishing"), { "a.md": para("leaving", 3) });
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "vanishing",
        source: { type: "directory", path: src },
      },
    });
    assert.equal((await env.waitForOperation(operation!.id)).status, "completed");
    const before = await env.counts(collection.id);
    await Deno.remove(src, { recursive: true });
    const op = await syncCollection(env.deps, { userId: env.userId, collectionId: collection.id });
    const failed = await env.waitForOperation(op.id);
    assert.equal(failed.status, "failed");
    assert.match(failed.error_message ?? "", /does not exist/);
    assert.equal(failed.attempts, 1, "not retried: another attempt cannot fix it");
    assert.deepEqual(await env.counts(collection.id), before);
    assert.equal(
      (await getCollection(env.deps, { userId: env.userId, collectionId: collection.id })).status,
      "error",
    );
  });
});
