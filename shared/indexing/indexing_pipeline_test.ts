import assert from "node:assert/strict";
import { join } from "node:path";
import { chunkDocument } from "../chunking/chunk_document.ts";
import type { EmbedMode } from "../embedding/embedder.ts";
import { hashFile } from "../extraction/hash_file.ts";
import type { VectorPoint, VectorStore } from "../vector/vector_store.ts";
import type { DocumentOutcome } from "./document_outcome.ts";
import { documentIdFor } from "./ids.ts";
import type { IndexSink } from "./index_sink.ts";
import { IndexingPipeline, type PipelineFile } from "./indexing_pipeline.ts";
import type { DocumentRef } from "./plan_indexing.ts";

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
function fakeStore(log: string[], failUpsert = false): VectorStore {
  return {
    deleteByDocument(name: string, ids: string[]) {
      log.push(`delete ${name} ${ids.join(",")}`);
      return Promise.resolve();
    },
    upsert(name: string, points: VectorPoint[]) {
      if (failUpsert) return Promise.reject(new Error("store is down"));
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
    });
    await p.add(fileOf(dir, "bin.txt"));
    await p.add(fileOf(dir, "missing.txt"));
    await p.add(fileOf(dir, "empty.txt"));
    await p.add(fileOf(dir, "same.txt", { verifyHash: await hashFile(join(dir, "same.txt")) }));
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
  });
});

Deno.test("IndexingPipeline extracts the next documents while a batch embeds, and stops at prefetchBatches", async () => {
  const files = Object.fromEntries(
    Array.from({ length: 6 }, (_, i) => [`d${i}.txt`, text(8, `d${i}x`)]),
  );
  await withFiles(files, async (dir) => {
    const log: string[] = [];
    const embedder = new FakeEmbedder();
    embedder.gate = Promise.withResolvers();
    const p = new IndexingPipeline({
      vectors: fakeStore(log),
      embedder,
      sink: fakeSink(log, []),
      chunkSize: 9,
      chunkOverlap: 0,
      maxFileSizeBytes: 1 << 20,
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
