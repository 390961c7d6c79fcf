/**
 * `indexing.process_source` end to end with a worker: the fixture corpus (good and hostile
 * files) indexes with the right per-document statuses and metadata, and the counts agree
 * (points = chunk rows = the documents' chunk counts); indexing again changes nothing; a
 * modified file has only its own chunks replaced. A long text file is streamed and its progress
 * moves inside the document ("Embedding long.txt: 120 of 480 chunks").
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type OperationRow } from "@semantik/shared";
import { createCollection, getCollection, startOperation } from "../api/collections/collections.ts";
import { indexSources, type OperationRef } from "../worker/indexing/mod.ts";
import { writeFixtureCorpus } from "./fixtures/corpus.ts";
import { withIndexingEnv, writeFiles } from "./indexing_env.ts";

const MAX_BYTES = 256 * 1024;

interface DocRow {
  id: string;
  uri: string;
  status: string;
  error: string | null;
  chunk_count: number;
  content_hash: string | null;
  mime_type: string | null;
  updated_at: Date;
}

Deno.test("process_source indexes the fixture corpus with the right statuses and counts; a re-run changes nothing; a modified file replaces only its chunks", async () => {
  await withIndexingEnv({
    env: { MAX_FILE_SIZE_MB: String(MAX_BYTES / (1024 * 1024)) },
  }, async (env) => {
    const corpus = await writeFixtureCorpus(env.dir, { maxFileSizeBytes: MAX_BYTES });
    assert.equal(corpus.root, env.root);
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "corpus",
        source: { type: "directory", path: corpus.root },
      },
    });
    assert.ok(operation);
    const done = await env.waitForOperation(operation.id);
    assert.equal(done.status, "completed", done.error_message ?? "");

    // Every file the scan reports is a document with the expected status and reason.
    const docs = await env.db.db.query<DocRow>(
      "select * from documents where collection_id = $1",
      [collection.id],
    );
    const byUri = new Map(docs.map((d) => [d.uri, d]));
    const reported = corpus.files.filter((f) => f.expected.status !== "ignored");
    for (const f of reported) {
      const d = byUri.get(f.uri);
      assert.ok(d, `no document for ${f.path}`);
      assert.equal(d.status, f.expected.status, `${f.path}: ${d.error}`);
      if (f.expected.reason) {
        assert.match(d.error ?? "", new RegExp(escape(f.expected.reason)), f.path);
      }
      if (f.expected.status === "completed") {
        assert.ok(d.chunk_count > 0, f.path);
        assert.match(d.content_hash ?? "", /^[0-9a-f]{64}$/, f.path);
        if (f.expected.mimeType) assert.equal(d.mime_type, f.expected.mimeType, f.path);
      } else {
        assert.equal(d.chunk_count, 0, f.path);
      }
    }
    assert.equal(docs.length, reported.length, "one document per reported file, no more");

    const m = done.metadata as Record<string, number>;
    assert.equal(m.documents_total, reported.length);
    assert.equal(m.documents_processed, corpus.counts.completed);
    assert.equal(m.documents_failed, corpus.counts.failed);
    assert.equal(m.documents_skipped, corpus.counts.skipped);
    const counts = await env.counts(collection.id);
    assert.equal(m.chunks_created, counts.chunks);
    assert.equal(counts.vectors, counts.chunks);
    assert.equal(counts.chunkCountSum, counts.chunks);
    assert.equal(counts.documents, corpus.counts.completed);

    const json = await getCollection(env.deps, { userId: env.userId, collectionId: collection.id });
    assert.equal(json.status, "ready");
    assert.equal(json.document_count, corpus.counts.completed);
    assert.equal(json.chunk_count, json.vector_count);
    assert.ok(json.chunk_count > 0);

    // Every point has its chunk row and vice versa.
    const chunkIds = (await env.db.db.query<{ id: string }>(
      "select id from chunks where collection_id = $1 order by id",
      [collection.id],
    )).map((r) => r.id);
    assert.ok(chunkIds.length <= 1000, "small enough to list every point in one search");
    const hits = await env.vectors.search(
      `col_${collection.id.replaceAll("-", "")}`,
      new Array(32).fill(0).map((_, i) => (i === 0 ? 1 : 0)),
      { k: 1000 },
    );
    assert.deepEqual(hits.map((h) => h.id).sort(), chunkIds);

    // Indexing the same source again changes nothing.
    const sourceId = json.sources[0]!.id;
    const chunksBefore = await chunkRows(env, collection.id);
    const again = await rerun(env, collection.id, sourceId);
    assert.equal(again.status, "completed", again.error_message ?? "");
    const m2 = again.metadata as Record<string, number>;
    assert.equal(m2.documents_processed, 0);
    assert.equal(m2.chunks_created, 0);
    assert.equal(m2.documents_unchanged, corpus.counts.completed);
    assert.deepEqual(await chunkRows(env, collection.id), chunksBefore);
    const docsAfter = await env.db.db.query<DocRow>(
      "select * from documents where collection_id = $1",
      [collection.id],
    );
    assert.deepEqual(
      docsAfter.map((d) => [d.uri, d.status, d.updated_at.getTime()]).sort(),
      docs.map((d) => [d.uri, d.status, d.updated_at.getTime()]).sort(),
    );

    // A touched file (new mtime, same bytes) is re-hashed, not re-embedded.
    const volcanoes = join(corpus.root, "topics", "volcanoes.txt");
    await Deno.utime(volcanoes, new Date(), new Date(Date.now() + 5000));
    const touched = await rerun(env, collection.id, sourceId);
    assert.equal((touched.metadata as Record<string, number>).documents_processed, 0);
    assert.deepEqual(await chunkRows(env, collection.id), chunksBefore);

    // Modify one file: only its chunks are replaced.
    const notes = join(corpus.root, "nested", "a", "b", "c", "deep-note.md");
    const noteDoc = byUri.get(notes)!;
    await Deno.writeTextFile(
      notes,
      "A rewritten note about quartz crystals.\n\n".repeat(30) + "The end of the quartz note.",
    );
    const modified = await rerun(env, collection.id, sourceId);
    assert.equal(modified.status, "completed", modified.error_message ?? "");
    const m3 = modified.metadata as Record<string, number>;
    assert.equal(m3.documents_processed, 1);
    assert.equal(m3.modified, 1);
    const chunksAfter = await chunkRows(env, collection.id);
    const others = (rows: typeof chunksAfter) => rows.filter((r) => r.document_id !== noteDoc.id);
    assert.deepEqual(others(chunksAfter), others(chunksBefore), "other documents' chunks kept");
    const noteChunks = chunksAfter.filter((r) => r.document_id === noteDoc.id);
    assert.ok(noteChunks.length > 1);
    assert.ok(noteChunks.every((r) => !r.text.includes("four directories down")));
    assert.ok(noteChunks.some((r) => r.text.includes("quartz")));
    const after = await env.counts(collection.id);
    assert.equal(after.vectors, after.chunks);
    assert.equal(after.chunkCountSum, after.chunks);
    assert.equal(after.chunks, chunksBefore.length - 1 + noteChunks.length);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function chunkRows(
  env: Parameters<Parameters<typeof withIndexingEnv>[1]>[0],
  collectionId: string,
) {
  return await env.db.db.query<
    { id: string; document_id: string; ordinal: number; text: string; created_at: Date }
  >(
    `select id, document_id, ordinal, text, created_at from chunks
      where collection_id = $1 order by id`,
    [collectionId],
  );
}

async function rerun(
  env: Parameters<Parameters<typeof withIndexingEnv>[1]>[0],
  collectionId: string,
  sourceId: string,
): Promise<OperationRow> {
  const op = await startOperation(env.deps, {
    userId: env.userId,
    collectionId,
    type: "index",
    prepare: () => Promise.resolve({ source_id: sourceId }),
  });
  return await env.waitForOperation(op.id);
}

Deno.test("indexing a long text file reports chunk progress inside the document and stores the same chunks", async () => {
  await withIndexingEnv({ worker: false }, async (env) => {
    const paragraph = (i: number) =>
      `Paragraph ${i} tells of bees, hives and the flowers they visit in the spring.`;
    const src = await writeFiles(join(env.root, "src"), {
      "long.txt": Array.from({ length: 3000 }, (_, i) => paragraph(i)).join("\n\n"),
      "short.md": "# Short\n\nA short note.",
    });
    const { collection, operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "long",
        source: { type: "directory", path: src },
      },
    });
    const [op] = await env.db.db.query<OperationRef>(
      "select id, collection_id, config, metadata from operations where id = $1",
      [operation!.id],
    );
    const updates: { progress: number; message: string | undefined }[] = [];
    const summary = await indexSources({
      db: env.db.db,
      vectors: env.vectors,
      models: env.models,
      documentRoots: env.config.documentRoots,
      maxFileSizeBytes: env.config.maxFileSizeBytes,
      streamTextAboveBytes: 64 * 1024,
      batchChunks: 32,
    }, {
      reporter: {
        signal: new AbortController().signal,
        updateProgress: (progress, message) => updates.push({ progress, message }),
        checkpoint: () => Promise.resolve(),
      },
      op: op!,
    });
    assert.equal(summary.documents_processed, 2);
    const [doc] = await env.db.db.query<{ chunk_count: number; status: string }>(
      "select chunk_count, status from documents where collection_id = $1 and uri = $2",
      [collection.id, join(src, "long.txt")],
    );
    assert.equal(doc!.status, "completed");
    const total = doc!.chunk_count;
    const inside = updates.filter((u) => u.message?.startsWith("Embedding long.txt:"));
    assert.ok(inside.length >= 3, JSON.stringify(updates.slice(0, 20)));
    for (const u of inside) {
      const m = /^Embedding long\.txt: (\d+) of (?:about )?(\d+) chunks$/.exec(u.message!);
      assert.ok(m, u.message);
      assert.ok(Number(m[1]) <= Number(m[2]), u.message);
    }
    // Progress moved while the document was still being embedded, not only at its end.
    const firstWritten = Number(/: (\d+) of/.exec(inside[0]!.message!)![1]);
    assert.ok(firstWritten < total, `first report ${inside[0]!.message}, ${total} chunks`);
    assert.ok(inside.at(-1)!.progress > inside[0]!.progress);
    assert.equal(inside.at(-1)!.message, `Embedding long.txt: ${total} of ${total} chunks`);
    const counts = await env.counts(collection.id);
    assert.equal(counts.chunks, counts.vectors);
    assert.equal(counts.chunkCountSum, counts.chunks);
  });
});
