import assert from "node:assert/strict";
import { join } from "node:path";
import {
  chunkDocument,
  type EmbedMode,
  hashFile,
  type VectorPoint,
  type VectorStore,
} from "@semantik/shared";
import type { DocumentOutcome } from "./document_outcome.ts";
import { documentIdFor } from "./ids.ts";
import type { IndexSink } from "./index_sink.ts";
import {
  type DocumentProgress,
  IndexingPipeline,
  type IndexingPipelineOptions,
  type PipelineFile,
} from "./indexing_pipeline.ts";
import type { DocumentRef } from "./plan_indexing.ts";
import { Semaphore } from "../semaphore.ts";
import type { EmbedOptions } from "@semantik/shared";
import { waitFor } from "@semantik/shared/testing";

const C = "66666666-6666-4666-8666-666666666666";

/** One token per word: chunk counts are easy to predict. */
const words = (t: string) => t.split(/\s+/).filter(Boolean).length;

class FakeEmbedder {
  readonly calls: number[] = [];
  gate: PromiseWithResolvers<void> | undefined;
  started = 0;
  countTokens(text: string): number {
    return words(text);
  }
  async embedTexts(texts: string[], _mode: EmbedMode): Promise<Float32Array[]> {
    this.started++;
    if (this.gate) await this.gate.promise;
    this.calls.push(texts.length);
    return texts.map((t) => Float32Array.from([t.length, 1]));
  }
}

/** The parts of a vector store the pipeline uses, logging every call. */
function fakeStore(log: string[], failUpsert: boolean | number = false): VectorStore {
  let upserts = 0;
  return {
    deleteByDocument(name: string, ids: string[]) {
      log.push(`delete ${name} ${ids.join(",")}`);
      return Promise.resolve();
    },
    upsert(name: string, points: VectorPoint[]) {
      // true: every upsert fails; a number n: the n-th and later fail.
      upserts++;
      if (failUpsert === true || (typeof failUpsert === "number" && upserts >= failUpsert)) {
        return Promise.reject(new Error("store is down"));
      }
      log.push(`upsert ${name} ${points.length}`);
      return Promise.resolve();
    },
  } as unknown as VectorStore;
}

function fakeSink(log: string[], recorded: DocumentOutcome[]): IndexSink {
  return {
    collectionId: C,
    generation: 1,
    vectorCollection: "col_test_g1",
    record(outcomes) {
      log.push(
        `record ${outcomes.map((o) => `${o.ref.uri.split("/").pop()}:${o.kind}`).join(",")}`,
      );
      recorded.push(...outcomes);
      return Promise.resolve();
    },
    discardUnrecorded(ids) {
      log.push(`discard ${ids.join(",")}`);
      return Promise.resolve();
    },
  };
}

function ref(uri: string, over: Partial<DocumentRef> = {}): DocumentRef {
  return {
    id: documentIdFor(C, uri),
    uri,
    sourceId: null,
    change: "added",
    mayHavePoints: false,
    isNew: true,
    ...over,
  };
}

async function withFiles(
  files: Record<string, string | Uint8Array>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, content] of Object.entries(files)) {
      if (typeof content === "string") await Deno.writeTextFile(join(dir, name), content);
      else await Deno.writeFile(join(dir, name), content);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const text = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ") + ".";
const fileOf = (dir: string, name: string, over: Partial<PipelineFile> = {}): PipelineFile => ({
  ref: ref(join(dir, name)),
  path: join(dir, name),
  sizeBytes: 1,
  mtimeMs: 1,
  verifyHash: null,
  ...over,
});

Deno.test("IndexingPipeline batches chunks across documents and records each document after its last batch", async () => {
  await withFiles(
    { "a.txt": text(20, "a"), "b.txt": text(20, "b"), "c.txt": text(20, "c") },
    async (dir) => {
      const log: string[] = [];
      const recorded: DocumentOutcome[] = [];
      const embedder = new FakeEmbedder();
      const p = new IndexingPipeline({
        vectors: fakeStore(log),
        embedder,
        sink: fakeSink(log, recorded),
        chunkSize: 8,
        chunkOverlap: 0,
        maxFileSizeBytes: 1 << 20,
        documentRoots: [dir],
        batchChunks: 4,
      });
      for (const name of ["a.txt", "b.txt", "c.txt"]) await p.add(fileOf(dir, name));
      await p.finish();
      const perDoc = chunkDocument({ text: text(20, "a"), mimeType: "text/plain" }, {
        chunkSize: 8,
        chunkOverlap: 0,
        tokenizer: embedder,
      }).length;
      const total = 3 * perDoc;
      assert.equal(embedder.calls.reduce((a, b) => a + b, 0), total);
      assert.ok(embedder.calls.slice(0, -1).every((n) => n === 4), embedder.calls.join());
      // Points are upserted before the documents whose chunks they are get recorded.
      assert.deepEqual(log.filter((l) => l.startsWith("record")).join("|").match(/\w\.txt/g), [
        "a.txt",
        "b.txt",
        "c.txt",
      ]);
      for (const o of recorded) {
        assert.equal(o.kind, "completed");
        const at = log.findIndex((l) =>
          l.startsWith("record") && l.includes(o.ref.uri.split("/").pop()!)
        );
        assert.ok(log.slice(0, at).some((l) => l.startsWith("upsert")));
      }
      const first = recorded[0]!;
      assert.ok(first.kind === "completed");
      assert.deepEqual(first.chunks.map((c) => c.ordinal), [...Array(perDoc).keys()]);
      assert.equal(
        new Set(recorded.flatMap((o) => o.kind === "completed" ? o.chunks.map((c) => c.id) : []))
          .size,
        total,
      );
      // New documents have no old points to delete.
      assert.ok(!log.some((l) => l.startsWith("delete")));
    },
  );
});

Deno.test("IndexingPipeline deletes a document's old points in the batch of its first chunk, before the upsert", async () => {
  await withFiles({ "a.txt": text(10, "a"), "b.txt": text(10, "b") }, async (dir) => {
    const log: string[] = [];
    const p = new IndexingPipeline({
      vectors: fakeStore(log),
      embedder: new FakeEmbedder(),
      sink: fakeSink(log, []),
      chunkSize: 8,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
      batchChunks: 100,
    });
    const old = fileOf(dir, "b.txt");
    old.ref = { ...old.ref, mayHavePoints: true, isNew: false, change: "modified" };
    await p.add(fileOf(dir, "a.txt"));
    await p.add(old);
    await p.finish();
    assert.deepEqual(log, [
      `delete col_test_g1 ${old.ref.id}`,
      "upsert col_test_g1 4",
      "record a.txt:completed,b.txt:completed",
    ]);
  });
});

Deno.test("IndexingPipeline records bad documents with their reason and goes on; a touch re-embeds nothing", async () => {
  const binary = new Uint8Array(512).map((_, i) => (i * 37) % 256);
  await withFiles({
    "ok.txt": text(5, "w"),
    "bin.txt": binary,
    "empty.txt": "",
    "same.txt": "same text here",
  }, async (dir) => {
    const log: string[] = [];
    const recorded: DocumentOutcome[] = [];
    const embedder = new FakeEmbedder();
    const p = new IndexingPipeline({
      vectors: fakeStore(log),
      embedder,
      sink: fakeSink(log, recorded),
      chunkSize: 8,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
    });
    await p.add(fileOf(dir, "bin.txt"));
    await p.add(fileOf(dir, "missing.txt"));
    await p.add(fileOf(dir, "empty.txt"));
    // Indexed before (its points exist), touched since: same hash, its points stay.
    const same = fileOf(dir, "same.txt", {
      verifyHash: await hashFile(join(dir, "same.txt"), { documentRoots: [dir] }),
    });
    same.ref = { ...same.ref, mayHavePoints: true, isNew: false, change: "modified" };
    await p.add(same);
    await p.add(fileOf(dir, "ok.txt"));
    await p.finish();
    const got = recorded.map((
      o,
    ) => [o.ref.uri.split("/").pop(), o.kind, "reason" in o ? o.reason : ""]);
    assert.equal(got.length, 5);
    assert.deepEqual(got.map((g) => g.slice(0, 2)), [
      ["bin.txt", "skipped"],
      ["missing.txt", "failed"],
      ["empty.txt", "skipped"],
      ["same.txt", "touched"],
      ["ok.txt", "completed"],
    ]);
    assert.match(String(got[0]![2]), /binary/);
    assert.match(String(got[1]![2]), /cannot read file/);
    assert.match(String(got[2]![2]), /empty/);
    assert.deepEqual(embedder.calls, [1]);
    assert.deepEqual(log.filter((l) => l.includes(same.ref.id)), [], "the touched points stay");
  });
});

/**
 * A pipeline over `dir` of one-chunk documents (chunks of 9 tokens, `text(8, ...)` files), with the
 * fake store and sink logging to `log`.
 */
function oneChunkPipeline(
  dir: string,
  log: string[],
  options: Pick<IndexingPipelineOptions, "embedder"> & Partial<IndexingPipelineOptions>,
): IndexingPipeline {
  return new IndexingPipeline({
    vectors: fakeStore(log),
    sink: fakeSink(log, []),
    chunkSize: 9,
    chunkOverlap: 0,
    maxFileSizeBytes: 1 << 20,
    documentRoots: [dir],
    ...options,
  });
}

/** The name of the i-th of `n` one-chunk documents: d0.txt, or d00.txt when `n` is 11 to 100. */
const oneChunkName = (i: number, n: number) =>
  `d${String(i).padStart(String(n - 1).length, "0")}.txt`;

/** `n` one-chunk documents ({@link oneChunkName}), for {@link oneChunkPipeline}. */
const oneChunkFiles = (n: number) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [oneChunkName(i, n), text(8, `d${i}x`)]),
  );

/** Lets every callback already due run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("IndexingPipeline extracts the next documents while a batch embeds, and stops at prefetchBatches", async () => {
  const files = oneChunkFiles(6);
  await withFiles(files, async (dir) => {
    const log: string[] = [];
    const embedder = new FakeEmbedder();
    embedder.gate = Promise.withResolvers();
    const p = oneChunkPipeline(dir, log, {
      embedder,
      batchChunks: 1,
      prefetchBatches: 2,
    });
    // Two batches may be in flight while the model is busy with the first.
    await p.add(fileOf(dir, "d0.txt"));
    await p.add(fileOf(dir, "d1.txt"));
    assert.equal(embedder.started, 1);
    assert.equal(embedder.calls.length, 0);
    // The third waits for a free slot.
    let third = false;
    const adding = p.add(fileOf(dir, "d2.txt")).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(third, false);
    embedder.gate.resolve();
    await adding;
    for (const name of ["d3.txt", "d4.txt", "d5.txt"]) await p.add(fileOf(dir, name));
    await p.finish();
    assert.deepEqual(embedder.calls, [1, 1, 1, 1, 1, 1]);
    assert.equal(log.filter((l) => l.startsWith("record")).length, 6);
  });
});

/** An embedder whose calls the test starts (all batches in the model) and ends, one by one. */
class HandOverEmbedder {
  readonly calls: { texts: string[]; started: () => void; end: () => void }[] = [];
  countTokens(text: string): number {
    return words(text);
  }
  embedTexts(texts: string[], _mode: EmbedMode, options?: EmbedOptions): Promise<Float32Array[]> {
    const ended = Promise.withResolvers<void>();
    this.calls.push({ texts, started: () => options?.onStarted?.(), end: ended.resolve });
    return ended.promise.then(() => texts.map((t) => Float32Array.from([t.length, 1])));
  }
}

Deno.test("IndexingPipeline starts the next embedding call once the last one's batches are all in the model, with the gate's permit; writes stay in order", async () => {
  const files = oneChunkFiles(3);
  await withFiles(files, async (dir) => {
    const log: string[] = [];
    const embedder = new HandOverEmbedder();
    const gate = new Semaphore(1);
    const p = oneChunkPipeline(dir, log, {
      embedder,
      gate,
      batchChunks: 1,
      prefetchBatches: 3,
    });
    for (const name of ["d0.txt", "d1.txt", "d2.txt"]) await p.add(fileOf(dir, name));
    await settle();
    assert.equal(embedder.calls.length, 1, "the second call waits for the first's batches");
    embedder.calls[0]!.started();
    await settle();
    assert.equal(embedder.calls.length, 2, "the next call starts before the first ends");
    assert.equal(gate.available, 0, "the permit went with the turn");
    await settle();
    assert.equal(embedder.calls.length, 2, "the third waits for the second's batches");
    // The second ends first: its batch is written after the first's, which is not embedded yet.
    embedder.calls[1]!.end();
    await settle();
    assert.equal(embedder.calls.length, 3, "an ended call lets the next one start too");
    assert.equal(log.join("|"), "", "nothing written before the first batch");
    embedder.calls[0]!.end();
    embedder.calls[2]!.end();
    await p.finish();
    assert.deepEqual(
      embedder.calls.map((c) => c.texts[0]!.slice(0, 3)),
      ["d0x", "d1x", "d2x"],
    );
    assert.deepEqual(log.filter((l) => l.startsWith("record")), [
      "record d0.txt:completed",
      "record d1.txt:completed",
      "record d2.txt:completed",
    ]);
    assert.equal(gate.available, 1, "every permit given back");
  });
});

/** An embedder whose calls give vectors (`onVectors`) and end when the test says; vector i is [i, 1]. */
class StreamingEmbedder {
  readonly calls: { give: (from: number, to: number) => void; end: () => void }[] = [];
  countTokens(text: string): number {
    return words(text);
  }
  embedTexts(texts: string[], _mode: EmbedMode, options?: EmbedOptions): Promise<Float32Array[]> {
    const vector = (i: number) => Float32Array.from([i, 1]);
    const ended = Promise.withResolvers<void>();
    this.calls.push({
      give: (from, to) => {
        const indices = Array.from({ length: to - from }, (_, k) => from + k);
        options?.onVectors?.(indices, indices.map(vector));
      },
      end: ended.resolve,
    });
    return ended.promise.then(() => texts.map((_, i) => vector(i)));
  }
}

/** The fake store, also keeping each upserted point's uri and vector. */
function pointStore(log: string[], points: { uri: string; vector: number }[]): VectorStore {
  const store = fakeStore(log);
  return {
    ...store,
    deleteByDocument: store.deleteByDocument,
    upsert(name: string, batch: VectorPoint[]) {
      for (const p of batch) points.push({ uri: p.payload.uri, vector: p.vector[0]! });
      return store.upsert(name, batch);
    },
  } as VectorStore;
}

Deno.test("IndexingPipeline writes a call's vectors as they come, in pieces of 32 or more after clearing old points, the rest when it ends, then records", async () => {
  await withFiles(oneChunkFiles(40), async (dir) => {
    const log: string[] = [];
    const points: { uri: string; vector: number }[] = [];
    const embedder = new StreamingEmbedder();
    const p = oneChunkPipeline(dir, log, { embedder, vectors: pointStore(log, points) });
    const files = Array.from({ length: 40 }, (_, i) =>
      fileOf(dir, oneChunkName(i, 40), {
        ref: ref(join(dir, oneChunkName(i, 40)), { mayHavePoints: i === 0 }),
      }));
    for (const f of files) await p.add(f);
    const finishing = p.finish();
    await waitFor("the embedding call", () => embedder.calls.length === 1, {
      seen: () => embedder.calls.length,
    });
    const call = embedder.calls[0]!;
    call.give(0, 20);
    await settle();
    assert.deepEqual(log, [], "20 vectors wait for more while the call runs");
    call.give(20, 35);
    await waitFor("the first piece written", () => log.length === 2, { seen: () => log });
    assert.deepEqual(log, [
      `delete col_test_g1 ${files[0]!.ref.id}`,
      "upsert col_test_g1 35",
    ], "old points cleared first");
    call.give(35, 40);
    await settle();
    assert.equal(log.length, 2, "5 wait for the call's end");
    call.end();
    await finishing;
    assert.equal(log[2], "upsert col_test_g1 5");
    assert.match(log[3]!, /^record d00\.txt:completed,.*d39\.txt:completed$/);
    assert.equal(log.length, 4);
    // Each point got its own vector: vector i belongs to the i-th document.
    assert.equal(points.length, 40);
    for (const pt of points) {
      assert.ok(pt.uri.endsWith(oneChunkName(pt.vector, 40)), JSON.stringify(pt));
    }
  });
});

Deno.test("IndexingPipeline.abort() while a call's vectors are being written writes no more of them and removes what it wrote", async () => {
  await withFiles(oneChunkFiles(70), async (dir) => {
    const log: string[] = [];
    const embedder = new StreamingEmbedder();
    const p = oneChunkPipeline(dir, log, { embedder, batchChunks: 128 });
    for (let i = 0; i < 70; i++) await p.add(fileOf(dir, oneChunkName(i, 70)));
    const finishing = p.finish().catch((err) => err);
    await waitFor("the embedding call", () => embedder.calls.length === 1, {
      seen: () => embedder.calls.length,
    });
    const call = embedder.calls[0]!;
    call.give(0, 32);
    await waitFor("the first piece written", () => log.length === 1, { seen: () => log });
    const aborting = p.abort(new Error("stopped"), { discardUnrecorded: true });
    call.give(32, 70);
    call.end();
    await aborting;
    assert.match(String(await finishing), /stopped/);
    assert.deepEqual(log.filter((l) => l.startsWith("upsert")), ["upsert col_test_g1 32"]);
    assert.ok(!log.some((l) => l.startsWith("record")), log.join("; "));
    assert.ok(log.at(-1)!.startsWith("discard "), log.join("; "));
    assert.equal(p.unrecordedDocuments, 0);
  });
});

Deno.test("IndexingPipeline feeds an idle embedder a model batch at a time and lets batches grow while it is busy", async () => {
  // Eight one-chunk documents of 8 tokens; the embedder runs 16 tokens at a time.
  const files = oneChunkFiles(8);
  await withFiles(files, async (dir) => {
    const log: string[] = [];
    const embedder = Object.assign(new FakeEmbedder(), { batchTokens: 16 });
    embedder.gate = Promise.withResolvers();
    const p = oneChunkPipeline(dir, log, {
      embedder,
      batchChunks: 100,
      prefetchBatches: 3,
    });
    await p.add(fileOf(dir, "d0.txt"));
    await settle();
    assert.equal(embedder.started, 0, "8 tokens are less than one model batch");
    // 16 tokens: the embedder has nothing to do, so they go at once, far below batchChunks...
    await p.add(fileOf(dir, "d1.txt"));
    await settle();
    assert.equal(embedder.started, 1, "the first model batch goes as soon as it is there");
    // ...and so does the next one, to wait behind it.
    for (const name of ["d2.txt", "d3.txt"]) await p.add(fileOf(dir, name));
    // With one batch running and one waiting, the rest gathers into one batch.
    for (const name of ["d4.txt", "d5.txt", "d6.txt", "d7.txt"]) await p.add(fileOf(dir, name));
    embedder.gate.resolve();
    await p.finish();
    assert.deepEqual(embedder.calls, [2, 2, 4]);
    assert.deepEqual(log.filter((l) => l.startsWith("upsert")).map((l) => l.split(" ")[2]), [
      "2",
      "2",
      "4",
    ]);
  });
});

Deno.test("IndexingPipeline fails with the store's error and records nothing after it", async () => {
  await withFiles({ "a.txt": text(5, "a"), "b.txt": text(5, "b") }, async (dir) => {
    const log: string[] = [];
    const p = new IndexingPipeline({
      vectors: fakeStore(log, true),
      embedder: new FakeEmbedder(),
      sink: fakeSink(log, []),
      chunkSize: 8,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
      batchChunks: 1,
    });
    await assert.rejects(async () => {
      for (const name of ["a.txt", "b.txt"]) await p.add(fileOf(dir, name));
      await p.finish();
    }, /store is down/);
    await p.abort();
    assert.deepEqual(log.filter((l) => l.startsWith("record")), []);
  });
});

Deno.test("IndexingPipeline.abort() with discardUnrecorded deletes the points of a document stopped mid-way", async () => {
  await withFiles({ "a.txt": text(3, "a"), "big.txt": text(30, "b") }, async (dir) => {
    for (const discard of [true, false]) {
      const log: string[] = [];
      const recorded: DocumentOutcome[] = [];
      // Batches of one chunk: a.txt (recorded), then big.txt's first chunk (written, its
      // document not yet recorded), then the store fails on big.txt's second chunk.
      const p = new IndexingPipeline({
        vectors: fakeStore(log, 3),
        embedder: new FakeEmbedder(),
        sink: fakeSink(log, recorded),
        chunkSize: 8,
        chunkOverlap: 0,
        maxFileSizeBytes: 1 << 20,
        documentRoots: [dir],
        batchChunks: 1,
        prefetchBatches: 1,
      });
      const big = fileOf(dir, "big.txt", {
        ref: ref(join(dir, "big.txt"), { mayHavePoints: true }),
      });
      await assert.rejects(async () => {
        await p.add(fileOf(dir, "a.txt"));
        await p.add(big);
        await p.finish();
      }, /store is down/);
      assert.equal(p.unrecordedDocuments, 1);
      await p.abort(new Error("stopped"), { discardUnrecorded: discard });
      assert.deepEqual(recorded.map((o) => o.ref.uri), [join(dir, "a.txt")]);
      const after = log.slice(log.findIndex((l) => l.startsWith("upsert")) + 1);
      if (discard) {
        // Only big.txt, the written but unrecorded document, and nothing recorded.
        assert.deepEqual(log.slice(-2), [
          `delete col_test_g1 ${big.ref.id}`,
          `discard ${big.ref.id}`,
        ]);
        assert.equal(p.unrecordedDocuments, 0);
      } else {
        assert.ok(!after.some((l) => l.startsWith("discard")), log.join("; "));
        assert.equal(log.filter((l) => l === `delete col_test_g1 ${big.ref.id}`).length, 1);
      }
    }
  });
});

Deno.test("IndexingPipeline stops when its signal fires", async () => {
  await withFiles({ "a.txt": text(5, "a") }, async (dir) => {
    const ac = new AbortController();
    const p = new IndexingPipeline({
      vectors: fakeStore([]),
      embedder: new FakeEmbedder(),
      sink: fakeSink([], []),
      chunkSize: 8,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
      signal: ac.signal,
    });
    ac.abort(new Error("cancelled here"));
    await assert.rejects(p.add(fileOf(dir, "a.txt")), /cancelled here/);
    await p.abort();
  });
});

Deno.test("IndexingPipeline settles only after earlier writes finished, even when a later batch fails to embed", async () => {
  await withFiles({ "a.txt": text(5, "a"), "b.txt": text(5, "b") }, async (dir) => {
    const log: string[] = [];
    const slow = Promise.withResolvers<void>();
    const store = {
      deleteByDocument: () => Promise.resolve(),
      async upsert(_name: string, points: VectorPoint[]) {
        await slow.promise;
        log.push(`upsert ${points.length}`);
      },
    } as unknown as VectorStore;
    const embedder = new FakeEmbedder();
    let calls = 0;
    const failing = {
      countTokens: (t: string) => embedder.countTokens(t),
      embedTexts: (texts: string[], mode: EmbedMode) =>
        ++calls === 2
          ? Promise.reject(new Error("model crashed"))
          : embedder.embedTexts(texts, mode),
    };
    const p = new IndexingPipeline({
      vectors: store,
      embedder: failing,
      sink: fakeSink(log, []),
      chunkSize: 8,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
      documentRoots: [dir],
      batchChunks: 1,
    });
    await p.add(fileOf(dir, "a.txt"));
    await p.add(fileOf(dir, "b.txt"));
    const finished = p.finish().then(() => "resolved", (err) => `rejected: ${err.message}`);
    // The second batch has failed to embed by now; the first one's write is still held up.
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(log, []);
    slow.resolve();
    assert.equal(await finished, "rejected: model crashed");
    assert.deepEqual(log, ["upsert 1", "record a.txt:completed"]);
  });
});

Deno.test("IndexingPipeline streams a large text file into the same chunks, reporting chunk counts as they are written", async () => {
  const body = Array.from({ length: 400 }, (_, i) => text(12, `w${i}x`)).join("\n\n");
  await withFiles({ "big.txt": body, "same.txt": body }, async (dir) => {
    const run = async (streamTextAboveBytes: number, name: string) => {
      const log: string[] = [];
      const recorded: DocumentOutcome[] = [];
      const progress: DocumentProgress[] = [];
      const p = new IndexingPipeline({
        vectors: fakeStore(log),
        embedder: new FakeEmbedder(),
        sink: fakeSink(log, recorded),
        chunkSize: 20,
        chunkOverlap: 4,
        maxFileSizeBytes: 1 << 20,
        documentRoots: [dir],
        batchChunks: 16,
        prefetchBatches: 1,
        streamTextAboveBytes,
        onDocumentProgress: (x) => progress.push(x),
        onRecorded: () => log.push(`recorded, progress so far ${progress.length}`),
      });
      const size = (await Deno.stat(join(dir, name))).size;
      await p.add(fileOf(dir, name, { sizeBytes: size }));
      await p.finish();
      return { recorded, progress, log };
    };
    const whole = await run(1 << 20, "same.txt");
    const streamed = await run(1024, "big.txt");
    const [w] = whole.recorded;
    const [s] = streamed.recorded;
    assert.equal(w?.kind, "completed");
    assert.equal(s?.kind, "completed");
    if (w?.kind !== "completed" || s?.kind !== "completed") return;
    assert.deepEqual(
      s.chunks.map(({ id: _, ...c }) => c),
      w.chunks.map(({ id: _, ...c }) => c),
    );
    assert.equal(s.contentHash, w.contentHash);
    assert.equal(whole.progress.length, 0, "a small file reports no chunk progress");

    const total = s.chunks.length;
    assert.ok(total > 64, `only ${total} chunks`);
    const progress = streamed.progress;
    assert.ok(progress.length >= total / 16 - 1, `${progress.length} progress reports`);
    progress.forEach((x, i) => {
      assert.match(x.message, /^Embedding big\.txt: \d+ of (about )?\d+ chunks$/);
      assert.ok(i === 0 || x.chunksWritten > progress[i - 1]!.chunksWritten);
    });
    // Reports came while the document was still being written, before it was recorded.
    assert.ok(progress[0]!.chunksWritten < total);
    assert.deepEqual(streamed.log.filter((l) => l.startsWith("recorded")), [
      `recorded, progress so far ${progress.length}`,
    ]);
    assert.equal(progress.at(-1)!.message, `Embedding big.txt: ${total} of ${total} chunks`);
  });
});

Deno.test("IndexingPipeline deletes the points of a streamed document that fails midway", async () => {
  // Over a window (a million characters), so chunks go out before the end is read.
  const body = Array.from({ length: 30_000 }, (_, i) => text(12, `w${i}x`)).join("\n\n") +
    "\n\nPOISON comes late.";
  await withFiles({ "bad.txt": body }, async (dir) => {
    const log: string[] = [];
    const recorded: DocumentOutcome[] = [];
    const embedder = new FakeEmbedder();
    embedder.countTokens = (t: string) => {
      if (t.includes("POISON")) throw new Error("the tokenizer choked");
      return words(t);
    };
    const p = new IndexingPipeline({
      vectors: fakeStore(log),
      embedder,
      sink: fakeSink(log, recorded),
      chunkSize: 20,
      chunkOverlap: 4,
      maxFileSizeBytes: 1 << 23,
      documentRoots: [dir],
      batchChunks: 256,
      streamTextAboveBytes: 1024,
    });
    const file = fileOf(dir, "bad.txt", {
      sizeBytes: (await Deno.stat(join(dir, "bad.txt"))).size,
    });
    await p.add(file);
    await p.finish();
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.kind, "failed");
    assert.match((recorded[0] as { reason: string }).reason, /the tokenizer choked/);
    const upserts = log.filter((l) => l.startsWith("upsert")).length;
    assert.ok(upserts > 0, "no batch went out before the failure: the test shows nothing");
    // The last write before recording deletes everything the document had written.
    const lastDelete = log.findLastIndex((l) => l === `delete col_test_g1 ${file.ref.id}`);
    const lastUpsert = log.findLastIndex((l) => l.startsWith("upsert"));
    assert.ok(lastDelete > lastUpsert, log.join("\n"));
  });
});
