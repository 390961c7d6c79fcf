/**
 * A cancelled append of one large file (issue 18): the file's points are written batch by batch
 * but its document is recorded only after its last chunk. When the operation ends, the points of
 * the unrecorded document are gone (chunk count = vector count), and search over the collection's
 * real documents returns them, even when stray points outrank them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { addSource, createCollection } from "../api/collections/collections.ts";
import { cancelOperation } from "../api/operations/operation_controls.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { TINY_MODEL_NAME, waitFor } from "@semantik/shared/testing";
import { type IndexingEnv, withIndexingEnv, writeFiles } from "./indexing_env.ts";

function searchDeps(env: IndexingEnv): SearchDeps {
  return {
    db: env.db.db,
    vectors: env.vectors,
    defaultEmbeddingModel: TINY_MODEL_NAME,
    embedQuery: async (model, text) =>
      (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
  };
}

const REAL: Record<string, string> = {
  "cats.md": "Cats are small domesticated felines that purr and hunt mice.",
  "bees.md": "Honeybees collect nectar from flowers and turn it into honey.",
  "markets.txt": "The stock market fell as investors sold technology shares.",
  "leaves.txt": "Photosynthesis lets plants turn sunlight into glucose in their leaves.",
  "volcano.txt": "Volcanoes erupt when molten rock escapes from a magma chamber.",
};

Deno.test("a cancelled append leaves no points of its unrecorded document, and search finds the real ones", async () => {
  await withIndexingEnv({}, async (env) => {
    const real = await writeFiles(join(env.root, "real"), REAL);
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "cancelled-append",
        source: { type: "directory", path: real },
      },
    });
    const first = await env.waitForOperation(operation!.id);
    assert.equal(first.status, "completed", first.error_message ?? "");
    const before = await env.counts(collection.id);
    assert.equal(before.documents, 5);
    assert.equal(before.vectors, before.chunks);

    // One file of many chunks: its points go in batch after batch, its row only at the end.
    const big = join(env.root, "big");
    await Deno.mkdir(big);
    const line = (i: number) => `Entry ${i} of a very long log, with words to fill the chunk.`;
    await Deno.writeTextFile(
      join(big, "huge.txt"),
      Array.from({ length: 40_000 }, (_, i) => line(i)).join("\n"),
    );
    const { operation: append } = await addSource(env.deps, {
      userId: env.userId,
      collectionId: collection.id,
      source: {
        type: "directory",
        path: big,
      },
    });
    // Mid-file: more points than chunk rows (the file's first batches are in, it is unrecorded).
    await waitFor("points of the large file before its row", async () => {
      const c = await env.counts(collection.id);
      return c.vectors > c.chunks ? c : undefined;
    }, { timeoutMs: 300_000, intervalMs: 100 });
    await cancelOperation(env.rt, { userId: env.userId, operationId: append.id });
    const ended = await env.waitForOperation(append.id);
    assert.equal(ended.status, "cancelled", `${ended.status}: ${ended.error_message ?? ""}`);

    const after = await env.counts(collection.id);
    assert.equal(
      after.vectors,
      after.chunks,
      `chunk_count ${after.chunks}, vectors ${after.vectors}`,
    );
    assert.deepEqual(
      { chunks: after.chunks, documents: after.documents },
      { chunks: before.chunks, documents: 5 },
    );
    const [huge] = await env.db.db.query<{ status: string; chunk_count: number }>(
      "select status, chunk_count from documents where collection_id = $1 and uri like '%huge.txt'",
      [collection.id],
    );
    assert.notEqual(huge?.status, "completed");
    assert.equal(huge?.chunk_count ?? 0, 0);

    // Search over the real documents returns them.
    const realUris = Object.keys(REAL).map((f) => join(real, f)).sort();
    const query = "animals, plants, money and mountains";
    const { results } = await search(searchDeps(env), {
      userId: env.userId,
      request: {
        query,
        collection_ids: [collection.id],
        k: 5,
      },
    });
    assert.deepEqual(results.map((r) => r.uri).sort(), realUris);

    // Stray points that outrank every real chunk (an orphan a failed cleanup would leave) do not
    // starve the results: k real chunks match, so k come back.
    const vector = (await (await env.models.get(TINY_MODEL_NAME)).embedTexts([query], "query"))[0]!;
    await env.vectors.upsert(
      `col_${collection.id.replaceAll("-", "")}`,
      Array.from({ length: 40 }, (_, i) => ({
        id: crypto.randomUUID(),
        vector,
        payload: {
          collection_id: collection.id,
          document_id: crypto.randomUUID(),
          uri: join(big, `orphan-${i}.txt`),
          chunk_index: 0,
        },
      })),
    );
    // Dense mode: the stray points fill the dense list's top (the lexical list cannot see them).
    const { results: starved } = await search(searchDeps(env), {
      userId: env.userId,
      request: {
        query,
        collection_ids: [collection.id],
        k: 5,
        mode: "dense",
      },
    });
    assert.deepEqual(starved.map((r) => r.uri).sort(), realUris);
  });
});
