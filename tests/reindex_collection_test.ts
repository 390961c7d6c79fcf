/**
 * Blue/green reindex (`collections.reindex`): with a worker, a reindex to another chunk size
 * leaves searches answering throughout, first from the old generation and then from the new one,
 * never from neither; afterwards only the new vectors and chunk rows exist and the collection
 * reports the new settings. Called directly: a reindex that fails midway leaves the old
 * generation searchable and as it was; a later attempt resumes what the failed one built; a
 * cancelled one discards its build.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OperationCancelledError, type VectorPoint, type VectorStore } from "@semantik/shared";
import {
  createCollection,
  getCollection,
  reindexCollection,
  syncCollection,
} from "../api/collections/collections.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { TINY_MODEL_NAME, writeTinyModel } from "@semantik/shared/testing";
import { reindexCollectionData, type ReindexReporter } from "../worker/indexing/mod.ts";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Passage ${i} on ${topic}, told at some length here.`)
    .join("\n\n");

const alias = (id: string) => `col_${id.replaceAll("-", "")}`;

function searchDeps(env: IndexingEnv): SearchDeps {
  return {
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text) =>
      (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
  };
}

async function indexed(env: IndexingEnv, files: number): Promise<string> {
  const src = await writeFiles(
    join(env.root, "src"),
    Object.fromEntries(
      Array.from({ length: files }, (_, i) => [`doc-${i}.md`, para(`topic ${i}`, 6)]),
    ),
  );
  const { collection, operation } = await createCollection(env.deps, {
    userId: env.userId,
    input: {
      name: `reindexed-${crypto.randomUUID().slice(0, 6)}`,
      source: { type: "directory", path: src },
    },
  });
  const done = await env.waitForOperation(operation!.id);
  assert.equal(done.status, "completed", done.error_message ?? "");
  return collection.id;
}

async function chunkIds(env: IndexingEnv, collectionId: string): Promise<Set<string>> {
  return new Set(
    (await env.db.db.query<{ id: string }>("select id from chunks where collection_id = $1", [
      collectionId,
    ])).map((r) => r.id),
  );
}

Deno.test("reindex to another chunk size: searches answer throughout, then only the new generation exists", async () => {
  await withIndexingEnv({}, async (env) => {
    const id = await indexed(env, 12);
    const before = await env.counts(id);
    const oldIds = await chunkIds(env, id);
    assert.equal(before.vectors, before.chunks);

    // Search continuously while the reindex runs; tell the generations apart by chunk text.
    const key = (r: { document_id: string; chunk_index: number; text: string }) =>
      `${r.document_id}:${r.chunk_index}:${r.text}`;
    const oldKeys = new Set(
      (await env.db.db.query<{ document_id: string; ordinal: number; text: string }>(
        "select document_id, ordinal, text from chunks where collection_id = $1",
        [id],
      )).map((r) => key({ ...r, chunk_index: r.ordinal })),
    );
    const seen: ("old" | "new" | "mixed")[] = [];
    const errors: unknown[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const { results } = await search(searchDeps(env), {
            userId: env.userId,
            request: {
              query: "passage on a topic",
              collection_ids: [id],
              k: 5,
            },
          });
          if (results.length === 0) throw new Error("a search found nothing");
          const old = results.filter((r) => oldKeys.has(key(r))).length;
          seen.push(old === results.length ? "old" : old === 0 ? "new" : "mixed");
        } catch (err) {
          errors.push(err);
        }
      }
    })();

    // A collection still waiting for its lexical backfill: the full reindex writes every point
    // with its terms, so the switch makes its lexical index ready.
    await env.db.db.query("update collections set lexical_ready = false where id = $1", [id]);
    let op;
    try {
      await waitForSearches(seen, 3);
      op = await reindexCollection(env.deps, {
        userId: env.userId,
        collectionId: id,
        input: { chunk_size: 40, chunk_overlap: 8 },
      });
      const done = await env.waitForOperation(op.id);
      assert.equal(done.status, "completed", done.error_message ?? "");
      const [row] = await env.db.db.query<{ lexical_ready: boolean }>(
        "select lexical_ready from collections where id = $1",
        [id],
      );
      assert.equal(row!.lexical_ready, true);
      await waitForSearches(seen, seen.length + 3);
    } finally {
      stop = true;
      await loop;
    }
    assert.deepEqual(errors, []);
    // Old generation first, then the new one, switching once.
    const firstNew = seen.indexOf("new");
    assert.ok(firstNew > 0, `searches saw: ${seen.join(",")}`);
    assert.ok(seen.slice(firstNew).every((s) => s === "new"), seen.join(","));

    const json = await getCollection(env.deps, { userId: env.userId, collectionId: id });
    assert.equal(json.status, "ready");
    assert.equal(json.chunk_size, 40);
    assert.equal(json.chunk_overlap, 8);
    assert.equal(json.chunk_count, json.vector_count);
    const after = await env.counts(id);
    assert.equal(after.vectors, after.chunks);
    assert.equal(after.chunkCountSum, after.chunks);
    assert.equal(after.documents, 12);
    assert.ok(after.chunks > before.chunks, `${after.chunks} chunks, before ${before.chunks}`);

    // Only the new generation: chunk rows, points, the alias' target; the old collection is gone.
    const rows = await env.db.db.query<{ id: string; generation: number; token_count: number }>(
      "select id, generation, token_count from chunks where collection_id = $1",
      [id],
    );
    assert.ok(rows.every((r) => r.generation === 2 && r.token_count <= 40));
    assert.ok(rows.every((r) => !oldIds.has(r.id)));
    const target = await env.vectors.resolveAlias(alias(id));
    assert.equal(target, `${alias(id)}_g2`);
    assert.equal(await env.vectors.count(`${alias(id)}_g1`), 0);
    const points = await env.vectors.search(
      alias(id),
      Array.from({ length: 32 }, (_, i) => (i === 2 ? 1 : 0)),
      { k: 1000 },
    );
    assert.deepEqual(points.map((p) => p.id).sort(), rows.map((r) => r.id).sort());
    const [staged] = await env.db.db.query<{ n: number }>(
      `select (select count(*) from staged_chunks where collection_id = $1)::int +
              (select count(*) from staged_documents where collection_id = $1)::int as n`,
      [id],
    );
    assert.equal(staged!.n, 0);
    const m = (await env.waitForOperation(op.id)).metadata as Record<string, number>;
    assert.deepEqual(
      [m.documents_total, m.documents_processed, m.chunks_created, m.generation],
      [12, 12, after.chunks, 2],
    );
    assert.ok((m.validated_searches ?? 0) > 0);
  });
});

/** A store whose upserts into generation 2 fail after `okUpserts` of them. */
function failingStore(
  inner: VectorStore,
  okUpserts: number,
): VectorStore & { upserts: number; points: number } {
  let upserts = 0;
  let written = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "upserts") return upserts;
      if (prop === "points") return written;
      if (prop === "upsert") {
        return (name: string, points: VectorPoint[]) => {
          if (name.endsWith("_g2") && ++upserts > okUpserts) {
            return Promise.reject(new Error("vector store went away"));
          }
          if (name.endsWith("_g2")) written += points.length;
          return target.upsert(name, points);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as VectorStore & { upserts: number; points: number };
}

function reporter(
  metadata: Record<string, unknown>,
  checkpoint: () => Promise<void> = () => Promise.resolve(),
): ReindexReporter {
  return {
    signal: new AbortController().signal,
    updateProgress(_p, _m, meta) {
      if (meta) Object.assign(metadata, meta);
    },
    checkpoint,
    flush: () => Promise.resolve(),
  };
}

Deno.test("a reindex that fails midway leaves the old generation as it was; the next attempt resumes; a cancelled one discards its build", async () => {
  await withIndexingEnv({}, async (env) => {
    await writeTinyModel(join(env.modelsDir, "test", "tiny-bert-b"), { maxTokens: 256, seed: 11 });
    const id = await indexed(env, 10);
    const before = await env.counts(id);
    const oldIds = await chunkIds(env, id);
    const settings = async () =>
      (await env.db.db.query(
        `select embedding_model, chunk_size, chunk_overlap, vector_generation
           from collections where id = $1`,
        [id],
      ))[0];
    const oldSettings = await settings();
    const found = async () =>
      (await search(searchDeps(env), {
        userId: env.userId,
        request: {
          query: "passage",
          collection_ids: [id],
          k: 100,
        },
      })).results.length;
    const op = {
      id: crypto.randomUUID(),
      collection_id: id,
      config: {
        embedding_model: "test/tiny-bert-b",
        vector_dim: 32,
        chunk_size: 30,
        chunk_overlap: 5,
      },
      metadata: {} as Record<string, unknown>,
    };
    const deps = (vectors: VectorStore) => ({
      db: env.db.db,
      vectors,
      models: env.models,
      documentRoots: env.config.documentRoots,
      maxFileSizeBytes: env.config.maxFileSizeBytes,
      batchChunks: 8,
    });

    // First attempt: the store fails after two batches.
    const flaky = failingStore(env.vectors, 2);
    await assert.rejects(
      reindexCollectionData(deps(flaky), { reporter: reporter(op.metadata), op, switchGraceMs: 0 }),
      /vector store went away/,
    );
    assert.deepEqual(await settings(), oldSettings);
    assert.deepEqual(await env.counts(id), before);
    assert.deepEqual(await chunkIds(env, id), oldIds);
    assert.equal(await env.vectors.resolveAlias(alias(id)), `${alias(id)}_g1`);
    assert.equal(await found(), before.chunks, "the old generation still answers searches");
    const [half] = await env.db.db.query<{ n: number }>(
      "select count(*)::int as n from staged_documents where collection_id = $1",
      [id],
    );
    assert.ok(half!.n > 0 && half!.n < 10, `staged ${half!.n} of 10 documents`);
    assert.equal(op.metadata.target_generation, 2);

    // Second attempt resumes: only the documents not staged yet are embedded again.
    const counting = failingStore(env.vectors, Infinity);
    const summary = await reindexCollectionData(deps(counting), {
      reporter: reporter(op.metadata),
      op: { ...op },
      switchGraceMs: 0,
    });
    assert.equal(summary.documents_processed, 10);
    const [built] = await env.db.db.query<{ n: number }>(
      "select count(*)::int as n from chunks where collection_id = $1",
      [id],
    );
    assert.ok(counting.points > 0);
    assert.ok(
      counting.points < built!.n,
      `${counting.points} points written on resume, of ${built!.n}`,
    );
    const switched = await settings();
    assert.deepEqual(switched, {
      embedding_model: "test/tiny-bert-b",
      chunk_size: 30,
      chunk_overlap: 5,
      vector_generation: 2,
    });
    const after = await env.counts(id);
    assert.equal(after.vectors, after.chunks);
    assert.equal(after.chunkCountSum, after.chunks);
    assert.equal(after.documents, 10);
    assert.ok((await found()) > 0);
    assert.equal(await env.vectors.count(`${alias(id)}_g1`), 0);

    // A cancelled reindex (to generation 3) discards its build and leaves generation 2 serving.
    let docs = 0;
    const cancelOp = { ...op, id: crypto.randomUUID(), metadata: {} };
    await assert.rejects(
      reindexCollectionData(deps(env.vectors), {
        reporter: reporter(cancelOp.metadata, () => {
          if (++docs > 4) return Promise.reject(new OperationCancelledError(cancelOp.id));
          return Promise.resolve();
        }),
        op: { ...cancelOp, config: { ...op.config, chunk_size: 20, chunk_overlap: 0 } },
        switchGraceMs: 0,
      }),
      OperationCancelledError,
    );
    assert.deepEqual(await settings(), switched);
    assert.deepEqual(await env.counts(id), after);
    assert.equal(await env.vectors.count(`${alias(id)}_g3`), 0);
    const [left] = await env.db.db.query<{ n: number }>(
      `select (select count(*) from staged_chunks where collection_id = $1)::int +
              (select count(*) from staged_documents where collection_id = $1)::int as n`,
      [id],
    );
    assert.equal(left!.n, 0);
  });
});

async function waitForSearches(seen: unknown[], n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (seen.length < n) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${n} searches`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a switch committed in Postgres but not in the vector store is finished by the next attempt or operation", async () => {
  await withIndexingEnv({}, async (env) => {
    const id = await indexed(env, 4);
    const op = {
      id: crypto.randomUUID(),
      collection_id: id,
      config: {
        embedding_model: TINY_MODEL_NAME,
        vector_dim: 32,
        chunk_size: 50,
        chunk_overlap: 5,
      },
      metadata: {} as Record<string, unknown>,
    };
    const deps = {
      db: env.db.db,
      vectors: env.vectors,
      models: env.models,
      documentRoots: env.config.documentRoots,
      maxFileSizeBytes: env.config.maxFileSizeBytes,
    };
    const built = await reindexCollectionData(deps, {
      reporter: reporter(op.metadata),
      op,
      switchGraceMs: 0,
    });
    const after = await env.counts(id);

    // The attempt "died" after its transaction: the alias still names generation 1, whose
    // vectors and chunk rows are still there.
    const g1 = `${alias(id)}_g1`;
    await env.vectors.ensureCollection(g1, 32);
    await env.vectors.upsert(g1, [{
      id: crypto.randomUUID(),
      vector: Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)),
      payload: { collection_id: id, document_id: "stale", uri: "/stale", chunk_index: 0 },
    }]);
    await env.vectors.setAlias(alias(id), g1);
    const [doc] = await env.db.db.query<{ id: string }>(
      "select id from documents where collection_id = $1 limit 1",
      [id],
    );
    await env.db.db.query(
      `insert into chunks (collection_id, id, document_id, ordinal, text, generation)
       values ($1, $2, $3, 99, 'stale', 1)`,
      [id, crypto.randomUUID(), doc!.id],
    );

    // Its next attempt finishes the switch without building anything again.
    const again = await reindexCollectionData(deps, {
      reporter: reporter(op.metadata),
      op: { ...op },
      switchGraceMs: 0,
    });
    assert.equal(again.generation, 2);
    assert.equal(again.chunks_created, built.chunks_created);
    assert.equal(await env.vectors.resolveAlias(alias(id)), `${alias(id)}_g2`);
    assert.deepEqual(await env.counts(id), after);
    assert.equal(await env.vectors.count(g1), 0);

    // Same state again, this time found by the next operation on the collection (a sync).
    await env.vectors.ensureCollection(g1, 32);
    await env.vectors.setAlias(alias(id), g1);
    await env.db.db.query(
      `insert into chunks (collection_id, id, document_id, ordinal, text, generation)
       values ($1, $2, $3, 99, 'stale', 1)`,
      [id, crypto.randomUUID(), doc!.id],
    );
    const sync = await env.waitForOperation(
      (await syncCollection(env.deps, { userId: env.userId, collectionId: id })).id,
    );
    assert.equal(sync.status, "completed", sync.error_message ?? "");
    assert.equal(await env.vectors.resolveAlias(alias(id)), `${alias(id)}_g2`);
    assert.deepEqual(await env.counts(id), after);
  });
});
