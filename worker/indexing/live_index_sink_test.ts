import assert from "node:assert/strict";
import type { Db } from "@semantik/shared";
import { withTestDb } from "@semantik/shared/testing";
import type { ChunkRecord } from "./document_outcome.ts";
import { chunkPointId, documentIdFor } from "./ids.ts";
import { LiveIndexSink } from "./live_index_sink.ts";
import type { DocumentRef } from "./plan_indexing.ts";
import { loadStoredDocuments } from "./stored_documents.ts";

const OP = "77777777-7777-4777-8777-777777777777";

async function collection(db: Db): Promise<string> {
  const user = crypto.randomUUID();
  const id = crypto.randomUUID();
  await db.query("insert into users (id, username, password_hash) values ($1, 'u', 'x')", [user]);
  await db.query(
    `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
       chunk_overlap, vector_store_name) values ($1, $2, 'c', 'm', 32, 100, 10, 'col_x')`,
    [id, user],
  );
  return id;
}

const chunks = (c: string, uri: string, n: number): ChunkRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    id: chunkPointId(c, { generation: 1, uri, ordinal: i }),
    ordinal: i,
    text: `chunk ${i} of ${uri}`,
    startOffset: i * 10,
    endOffset: i * 10 + 9,
    page: i === 0 ? null : i,
    tokenCount: 4,
  }));

Deno.test("LiveIndexSink records documents with their chunk rows, and later changes of them", async () => {
  await withTestDb("pglite", async ({ db }) => {
    const c = await collection(db);
    const sink = new LiveIndexSink({
      db,
      collectionId: c,
      generation: 1,
      vectorCollection: "col_x_g1",
      operationId: OP,
    });
    const uri = "/docs/a.md";
    const ref: DocumentRef = {
      id: documentIdFor(c, uri),
      uri,
      sourceId: null,
      change: "added",
      mayHavePoints: false,
      isNew: true,
    };
    await sink.addPending([{ ...ref, sizeBytes: 10, mtimeMs: 1000 }]);
    let doc = (await loadStoredDocuments(db, c)).get(uri)!;
    assert.equal(doc.status, "pending");
    assert.equal(doc.indexedBy, OP);

    await sink.record([{
      kind: "completed",
      ref,
      contentHash: "h1",
      sizeBytes: 12,
      mtimeMs: 2000,
      mimeType: "text/markdown",
      chunks: chunks(c, uri, 3),
    }]);
    doc = (await loadStoredDocuments(db, c)).get(uri)!;
    assert.deepEqual(
      [doc.status, doc.contentHash, doc.sizeBytes, doc.mtimeMs, doc.chunkCount, doc.lastChange],
      ["completed", "h1", 12, 2000, 3, "added"],
    );
    const rows = await db.query<{ ordinal: number; page: number | null; generation: number }>(
      "select ordinal, page, generation from chunks where collection_id = $1 order by ordinal",
      [c],
    );
    assert.deepEqual(rows.map((r) => [r.ordinal, r.page, r.generation]), [
      [0, null, 1],
      [1, 1, 1],
      [2, 2, 1],
    ]);

    // Becomes unreadable: chunk rows go, the row says why.
    const again = {
      ...ref,
      change: "modified" as const,
      mayHavePoints: true,
      isNew: false,
      stored: doc,
    };
    await sink.record([{
      kind: "failed",
      ref: again,
      reason: "cannot read file",
      sizeBytes: 12,
      mtimeMs: 3000,
      mimeType: null,
    }]);
    doc = (await loadStoredDocuments(db, c)).get(uri)!;
    assert.deepEqual([doc.status, doc.error, doc.contentHash, doc.chunkCount, doc.lastChange], [
      "failed",
      "cannot read file",
      null,
      0,
      "modified",
    ]);
    const [n] = await db.query<{ n: number }>(
      "select count(*)::int as n from chunks where collection_id = $1",
      [c],
    );
    assert.equal(n!.n, 0);

    // Failing the same way again writes nothing.
    const [{ updated_at: before }] = await db.query<{ updated_at: Date }>(
      "select updated_at from documents where id = $1",
      [ref.id],
    ) as [{ updated_at: Date }];
    await sink.record([{
      kind: "failed",
      ref: { ...again, stored: doc },
      reason: "cannot read file",
      sizeBytes: 12,
      mtimeMs: 3000,
      mimeType: null,
    }]);
    const [{ updated_at: after }] = await db.query<{ updated_at: Date }>(
      "select updated_at from documents where id = $1",
      [ref.id],
    ) as [{ updated_at: Date }];
    assert.equal(after.getTime(), before.getTime());

    // A touch refreshes size and mtime only.
    await sink.record([{
      kind: "touched",
      ref: { ...again, stored: doc },
      sizeBytes: 99,
      mtimeMs: 4000,
    }]);
    doc = (await loadStoredDocuments(db, c)).get(uri)!;
    assert.deepEqual([doc.status, doc.sizeBytes, doc.mtimeMs], ["failed", 99, 4000]);

    // Deleted: kept as a row with status deleted; a pending row is dropped altogether.
    const other = "/docs/b.md";
    const pending: DocumentRef = {
      id: documentIdFor(c, other),
      uri: other,
      sourceId: null,
      change: "added",
      mayHavePoints: false,
      isNew: true,
    };
    await sink.addPending([{ ...pending, sizeBytes: 1, mtimeMs: null }]);
    await sink.record([
      { kind: "deleted", ref: { ...again, change: "deleted", stored: doc } },
      { kind: "deleted", ref: { ...pending, change: null, isNew: false, mayHavePoints: true } },
    ]);
    const all = await loadStoredDocuments(db, c);
    assert.deepEqual([...all.keys()], [uri]);
    assert.deepEqual([all.get(uri)!.status, all.get(uri)!.lastChange], ["deleted", "deleted"]);
  });
});
