/**
 * The indexing pipeline with the real default embedder: a call's vectors reach the store as its
 * model batches end (`onVectors`), and those batches run on two sessions over texts the embedder
 * sorts by length, so they end out of the order the chunks came in. Every point must still get its
 * own chunk's vector, and be written once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ModelRegistry } from "../shared/embedding/model_registry.ts";
import { testModelsDir } from "../shared/embedding/test_models_dir.ts";
import { configureLogging } from "../shared/log/logger.ts";
import type { VectorPoint, VectorStore } from "../shared/vector/vector_store.ts";
import { documentIdFor } from "../worker/indexing/ids.ts";
import type { IndexSink } from "../worker/indexing/index_sink.ts";
import { IndexingPipeline } from "../worker/indexing/indexing_pipeline.ts";

configureLogging({ level: "error" });

const MODEL = "sentence-transformers/all-MiniLM-L6-v2";
const COLLECTION = "77777777-7777-4777-8777-777777777777";
const WORDS = "river stone garden market lantern harbor violin meadow copper signal".split(" ");

Deno.test("indexing with the real embedder writes each chunk's own vector once, in several pieces per call, whatever order its model batches end in", async () => {
  // Two sessions and a small token budget: a call of many texts runs as many small batches.
  const registry = new ModelRegistry({
    modelsDir: testModelsDir(),
    device: "cpu",
    sessions: 2,
    maxBatchTokens: 64,
  });
  const dir = await Deno.makeTempDir();
  try {
    // fp32: a vector does not depend on its batch neighbours (int8 quantizes activations per batch).
    const model = await registry.get(MODEL, { precision: "fp32" });
    // One-chunk documents of 3 to 30 words, lengths mixed so that sorting reorders them.
    const texts = Array.from(
      { length: 80 },
      (_, i) =>
        Array.from({ length: 3 + ((i * 7) % 28) }, (_, k) => WORDS[(i + k) % WORDS.length])
          .join(" ") + ` note${i}.`,
    );
    for (const [i, t] of texts.entries()) await Deno.writeTextFile(join(dir, `d${i}.txt`), t);

    const written = new Map<string, ArrayLike<number>>();
    const notIndexed: string[] = [];
    let upserts = 0;
    let calls = 0;
    const store = {
      deleteByDocument: () => Promise.resolve(),
      upsert(_name: string, points: VectorPoint[]) {
        upserts++;
        for (const p of points) {
          assert.ok(!written.has(p.payload.uri), `${p.payload.uri} written twice`);
          written.set(p.payload.uri, p.vector);
        }
        return Promise.resolve();
      },
    } as unknown as VectorStore;
    const sink: IndexSink = {
      collectionId: COLLECTION,
      generation: 1,
      vectorCollection: "col_streamed_g1",
      record: (outcomes) => {
        for (const o of outcomes) {
          if (o.kind !== "completed") {
            notIndexed.push(`${o.ref.uri}: ${o.kind} ${"reason" in o ? o.reason : ""}`);
          }
        }
        return Promise.resolve();
      },
      discardUnrecorded: () => Promise.resolve(),
    };
    // One call of all 80 chunks: without the model's batch size the pipeline sends a call only
    // when it holds `batchChunks` (128) chunks or at finish(), whatever the machine's speed. Its
    // model batches (at most 64 tokens, 8 of these texts) then end one by one, so the first piece
    // is taken at 32 to 39 vectors and at least one more write follows.
    const counted = new Proxy(model, {
      get: (target, prop) => {
        if (prop === "batchTokens") return undefined;
        if (prop === "embedTexts") {
          return (...args: Parameters<typeof model.embedTexts>) => {
            calls++;
            return target.embedTexts(...args);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const p = new IndexingPipeline({
      vectors: store,
      embedder: counted,
      sink,
      chunkSize: 200,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
    });
    for (let i = 0; i < texts.length; i++) {
      const path = join(dir, `d${i}.txt`);
      await p.add({
        ref: {
          id: documentIdFor(COLLECTION, path),
          uri: path,
          sourceId: null,
          change: "added",
          mayHavePoints: false,
          isNew: true,
        },
        path,
        sizeBytes: texts[i]!.length,
        mtimeMs: 1,
        verifyHash: null,
      });
    }
    await p.finish();

    assert.deepEqual(notIndexed, [], "every document indexed");
    assert.equal(written.size, texts.length, "every chunk written");
    assert.equal(calls, 1, "the pipeline sent its 80 chunks in one call");
    assert.ok(
      upserts > calls,
      `calls were written in pieces as their batches ended: ${upserts} upserts, ${calls} calls`,
    );
    // Each point's vector is its own text's, embedded alone (a batch changes no vector).
    const alone = await model.embedTexts(texts, "document");
    for (const [i, t] of texts.entries()) {
      const got = written.get(join(dir, `d${i}.txt`))!;
      const want = alone[i]!;
      let diff = 0;
      for (let k = 0; k < want.length; k++) diff = Math.max(diff, Math.abs(got[k]! - want[k]!));
      assert.ok(diff < 1e-4, `d${i}.txt ("${t.slice(0, 30)}...") got another text's vector`);
    }
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});
