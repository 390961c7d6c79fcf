/**
 * The lexical backfill of collections indexed before hybrid search (migration 0010 marks them
 * `lexical_ready = false`): until it completes, hybrid searches use their dense list alone and
 * say so (`lexical_pending`), lexical searches answer 409; the worker's maintenance starts one
 * `reindex` operation with `lexical_only` per marked collection (not again after a failure), the
 * operation writes the terms from the chunk text without touching the dense vectors, reports its
 * progress, and then lexical and hybrid search find the exact terms. Run on pgvector (PGlite)
 * and on the Qdrant store over the Qdrant fake, where the old collection has no sparse vector at
 * all.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { QdrantClient } from "@qdrant/js-client-rest";
import {
  AppError,
  generationCollectionName,
  QdrantStore,
  vectorStoreNameFor,
} from "@semantik/shared";
import { createCollection, reindexCollection } from "../api/collections/collections.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { TINY_MODEL_NAME } from "@semantik/shared/testing";
import { startLexicalBackfills } from "../worker/maintenance/mod.ts";
import { reindexSchema } from "../shared/collections/collection_schemas.ts";
import { startQdrantFake } from "./fakes/qdrant_fake.ts";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";

const FILES: Record<string, string> = {
  "copy.md": "COPY FROM takes the FORCE_NOT_NULL option: listed columns never match null.",
  "notify.md": "LISTEN waits for a channel; pg_notify wakes every listener of it.",
  "queue.md": "Workers claim jobs with SELECT ... FOR UPDATE SKIP LOCKED in a loop.",
  "cats.md": "Cats are small domesticated felines that purr and sleep most of the day.",
};

function searchDeps(env: IndexingEnv): SearchDeps {
  return {
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text) =>
      (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
  };
}

/** Puts the collection's points back in the state of a store written before hybrid search. */
type MakeLegacy = (env: IndexingEnv, physical: string, collectionId: string) => Promise<void>;

async function scenario(env: IndexingEnv, makeLegacy: MakeLegacy): Promise<void> {
  const src = await writeFiles(join(env.root, "src"), FILES);
  const { collection, operation } = await createCollection(env.deps, {
    userId: env.userId,
    input: {
      name: `legacy-${crypto.randomUUID().slice(0, 6)}`,
      source: { type: "directory", path: src },
    },
  });
  const indexed = await env.waitForOperation(operation!.id);
  assert.equal(indexed.status, "completed", indexed.error_message ?? "");
  const id = collection.id;
  const physical = generationCollectionName(id, 1);
  const deps = searchDeps(env);
  const run = (body: Parameters<typeof search>[1]["request"]) =>
    search(deps, { userId: env.userId, request: body });

  await makeLegacy(env, physical, id);
  await env.db.db.query("update collections set lexical_ready = false where id = $1", [id]);
  const dense = await run({ query: "pg_notify", mode: "dense", k: 4 });

  // Before the backfill: hybrid is the dense list alone, flagged; lexical is refused.
  for (const collection_ids of [[id], undefined]) {
    const hybrid = await run({ query: "pg_notify", k: 4, collection_ids });
    assert.deepEqual(hybrid.lexical_pending, [id]);
    assert.deepEqual(hybrid.results.map((r) => r.uri), dense.results.map((r) => r.uri));
    assert.ok(hybrid.results.every((r) => r.scores.lexical === null && r.scores.dense !== null));
  }
  await assert.rejects(
    () => run({ query: "pg_notify", mode: "lexical", collection_ids: [id] }),
    (err) =>
      err instanceof AppError && err.status === 409 &&
      JSON.stringify(err.details) === JSON.stringify({ collection_ids: [id] }),
  );
  assert.deepEqual((await run({ query: "pg_notify", mode: "dense" })).lexical_pending, []);

  // Maintenance starts one backfill; a second check while it is active starts nothing.
  const maintenance = { db: env.db.db, queues: env.rt.queues, log: env.rt.log };
  const first = await startLexicalBackfills(maintenance);
  assert.equal(first.started, 1);
  const second = await startLexicalBackfills(maintenance);
  assert.equal(second.started, 0);
  const op = await env.waitForOperation(first.operation_ids[0]!);
  assert.equal(op.status, "completed", op.error_message ?? "");
  assert.equal(op.type, "reindex");
  assert.deepEqual(op.config, { lexical_only: true });
  assert.equal(op.progress, 100);
  const chunks = (await env.counts(id)).chunks;
  assert.equal(op.metadata.chunks_backfilled, chunks);
  assert.equal(op.metadata.chunks_total, chunks);
  const [row] = await env.db.db.query<{ lexical_ready: boolean; vector_generation: number }>(
    "select lexical_ready, vector_generation from collections where id = $1",
    [id],
  );
  assert.deepEqual(row, { lexical_ready: true, vector_generation: 1 });

  // After: lexical and hybrid find the exact terms; dense vectors are as they were.
  const exact: [string, string][] = [["pg_notify", "notify.md"], ["FORCE_NOT_NULL", "copy.md"]];
  for (const [query, file] of exact) {
    const lexical = await run({ query, mode: "lexical", collection_ids: [id] });
    assert.deepEqual(lexical.lexical_pending, []);
    assert.equal(lexical.results[0]?.uri, join(src, file), query);
    const hybrid = await run({ query, k: 4, collection_ids: [id] });
    assert.deepEqual(hybrid.lexical_pending, []);
    const hit = hybrid.results.find((r) => r.uri === join(src, file));
    assert.ok(hit && hit.scores.lexical !== null, query);
  }
  const denseAfter = await run({ query: "pg_notify", mode: "dense", k: 4 });
  assert.deepEqual(
    denseAfter.results.map((r) => [r.uri, r.chunk_index, r.score]),
    dense.results.map((r) => [r.uri, r.chunk_index, r.score]),
  );
  assert.equal(await startLexicalBackfills(maintenance).then((r) => r.marked), 0);

  // The API starts one on demand; a failed one is not restarted by maintenance.
  const started = await reindexCollection(env.deps, {
    userId: env.userId,
    collectionId: id,
    input: { lexical_only: true },
  });
  const again = await env.waitForOperation(started.id);
  assert.equal(again.status, "completed", again.error_message ?? "");
  assert.deepEqual(again.config, { lexical_only: true });
  await env.db.db.query("update collections set lexical_ready = false where id = $1", [id]);
  await env.db.db.query("update operations set status = 'failed' where id = $1", [started.id]);
  assert.equal((await startLexicalBackfills(maintenance)).marked, 0);
}

Deno.test("reindex lexical_only is its own request: no other field may come with it", () => {
  assert.ok(reindexSchema.safeParse({ lexical_only: true }).success);
  assert.ok(reindexSchema.safeParse({ chunk_size: 100 }).success);
  assert.ok(!reindexSchema.safeParse({ lexical_only: true, chunk_size: 100 }).success);
  assert.ok(!reindexSchema.safeParse({ lexical_only: true, embedding_model: "m" }).success);
  assert.ok(!reindexSchema.safeParse({ lexical_only: "yes" }).success);
});

Deno.test("lexical backfill on pgvector: terms written from the chunk text, dense untouched", () =>
  // PGlite holds both the metadata and the vectors, so the test can empty the points' terms.
  withIndexingEnv({ driver: "pglite" }, (env) =>
    scenario(env, async (_env, physical) => {
      const [before] = await env.db.db.query<{ n: number }>(
        `select count(*)::int as n from vec_${physical} where lexical <> ''::tsvector`,
      );
      assert.ok(before!.n > 0);
      await env.db.db.query(`update vec_${physical} set lexical = ''::tsvector`);
    })));

Deno.test("lexical backfill on Qdrant: the sparse vector is added to a collection made without it", async () => {
  await using fake = await startQdrantFake();
  const vectors = new QdrantStore({ url: fake.url });
  try {
    await withIndexingEnv(
      { vectors },
      (env) =>
        scenario(env, async (_env, physical, collectionId) => {
          // Recreate the collection as the store made it before hybrid search: dense vector only.
          const client = new QdrantClient({ url: fake.url, checkCompatibility: false });
          const ids = (await env.db.db.query<{ id: string }>(
            "select id::text as id from chunks where collection_id = $1",
            [collectionId],
          )).map((r) => r.id);
          const points = await client.retrieve(physical, {
            ids,
            with_payload: true,
            with_vector: true,
          });
          assert.equal(points.length, ids.length);
          const info = await client.getCollection(physical);
          const size = (info.config.params.vectors as { size: number }).size;
          await client.deleteCollection(physical);
          await client.createCollection(physical, { vectors: { size, distance: "Cosine" } });
          await client.upsert(physical, {
            wait: true,
            points: points.map((p) => ({
              id: p.id,
              vector: p.vector as number[],
              payload: p.payload,
            })),
          });
          await client.updateCollectionAliases({
            actions: [{
              create_alias: {
                collection_name: physical,
                alias_name: vectorStoreNameFor(collectionId),
              },
            }],
          });
        }),
    );
  } finally {
    await vectors.close();
  }
});
