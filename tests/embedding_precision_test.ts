/**
 * A collection keeps the precision its vectors were made with: the first indexing run records
 * the one it used (int8 on a CPU when the model has it), searches embed the query at that
 * precision, and a reindex to another precision rewrites the vectors and the record together.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createCollection,
  getCollection,
  reindexCollection,
  syncCollection,
} from "../api/collections/collections.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { TINY_MODEL_NAME } from "@semantik/shared/testing";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";

type Precision = "fp32" | "fp16" | "int8";

function searchDeps(env: IndexingEnv, asked: (Precision | null | undefined)[]): SearchDeps {
  return {
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text, precision) => {
      asked.push(precision);
      const embedder = await env.models.get(model, precision ? { precision } : {});
      return (await embedder.embedTexts([text], "query"))[0]!;
    },
  };
}

async function recorded(env: IndexingEnv, id: string): Promise<string | null> {
  const [row] = await env.db.db.query<{ embedding_precision: string | null }>(
    "select embedding_precision from collections where id = $1",
    [id],
  );
  return row!.embedding_precision;
}

/** The best score of `text`, embedded as a query at `precision`, against the collection. */
async function bestScore(
  env: IndexingEnv,
  id: string,
  text: string,
  precision: Precision,
): Promise<number> {
  const embedder = await env.models.get(TINY_MODEL_NAME, { precision });
  const [vector] = await embedder.embedTexts([text], "query");
  const { collection } = await getCollectionRow(env, id);
  const hits = await env.vectors.search(collection, vector!, { k: 1 });
  return hits[0]!.score;
}

async function getCollectionRow(env: IndexingEnv, id: string) {
  const [row] = await env.db.db.query<{ vector_store_name: string }>(
    "select vector_store_name from collections where id = $1",
    [id],
  );
  return { collection: row!.vector_store_name };
}

Deno.test("a collection records its vectors' precision, searches with it, and changes it by reindexing", async () => {
  await withIndexingEnv({ int8: true }, async (env) => {
    const line = "precise words about quantized vectors";
    const src = await writeFiles(join(env.root, "src"), { "a.md": line });
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "precise",
        source: { type: "directory", path: src },
      },
    });
    assert.equal(collection.embedding_precision, null, "nothing indexed, nothing recorded");
    const indexed = await env.waitForOperation(operation!.id);
    assert.equal(indexed.status, "completed", indexed.error_message ?? "");
    assert.equal(await recorded(env, collection.id), "int8");
    assert.equal(
      (await getCollection(env.deps, { userId: env.userId, collectionId: collection.id }))
        .embedding_precision,
      "int8",
    );

    const asked: (Precision | null | undefined)[] = [];
    const { results } = await search(searchDeps(env, asked), {
      userId: env.userId,
      request: {
        query: line,
        collection_ids: [collection.id],
        k: 5,
      },
    });
    assert.deepEqual(asked, ["int8"]);
    assert.equal(results[0]?.text, line);

    const op = await reindexCollection(env.deps, {
      userId: env.userId,
      collectionId: collection.id,
      input: {
        embedding_precision: "fp32",
      },
    });
    const reindexed = await env.waitForOperation(op.id);
    assert.equal(reindexed.status, "completed", reindexed.error_message ?? "");
    assert.equal(await recorded(env, collection.id), "fp32");
    // The stored vector is now the fp32 graph's: the same text as an fp32 query meets it exactly.
    const score = await bestScore(env, collection.id, line, "fp32");
    assert.ok(score > 0.99999, `fp32 query against the reindexed vector scores ${score}`);

    asked.length = 0;
    await search(searchDeps(env, asked), {
      userId: env.userId,
      request: {
        query: line,
        collection_ids: [collection.id],
        k: 5,
      },
    });
    assert.deepEqual(asked, ["fp32"]);

    // Indexing again keeps the recorded precision although the default is int8.
    await writeFiles(src, { "b.md": "another line about recorded precision" });
    const sync = await syncCollection(env.deps, {
      userId: env.userId,
      collectionId: collection.id,
    });
    const synced = await env.waitForOperation(sync.id);
    assert.equal(synced.status, "completed", synced.error_message ?? "");
    assert.equal(await recorded(env, collection.id), "fp32");
    const added = await bestScore(
      env,
      collection.id,
      "another line about recorded precision",
      "fp32",
    );
    assert.ok(added > 0.99999, `fp32 query against the synced vector scores ${added}`);
  });
});
