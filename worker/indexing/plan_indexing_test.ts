import assert from "node:assert/strict";
import { type SourceEntry, statChangeToken } from "@semantik/shared";
import { documentIdFor } from "./ids.ts";
import { planIndexing, type PlanItem } from "./plan_indexing.ts";
import type { StoredDocument } from "./stored_documents.ts";

const C = "11111111-1111-4111-8111-111111111111";
const OP = "22222222-2222-4222-8222-222222222222";
const S1 = "33333333-3333-4333-8333-333333333333";
const S2 = "44444444-4444-4444-8444-444444444444";

const file = (uri: string, size = 10, mtimeMs = 1000): SourceEntry => ({
  kind: "file",
  uri,
  path: uri.slice(1),
  size,
  mtimeMs,
  changeToken: statChangeToken(size, mtimeMs),
  mimeType: null,
});

/** A Git entry: its token is the blob id; size alone says nothing. */
const blob = (uri: string, blobId: string, size = 10): SourceEntry => ({
  kind: "file",
  uri,
  path: uri.slice(1),
  size,
  mtimeMs: null,
  changeToken: `git:${blobId}`,
  mimeType: null,
});

function stored(uri: string, over: Partial<StoredDocument> = {}): StoredDocument {
  return {
    id: crypto.randomUUID(),
    uri,
    sourceId: S1,
    status: "completed",
    contentHash: "h-" + uri,
    sizeBytes: 10,
    mtimeMs: 1000,
    error: null,
    chunkCount: 2,
    indexedBy: null,
    lastChange: null,
    changeToken: null,
    ...over,
  };
}

const byUri = (docs: StoredDocument[]) => new Map(docs.map((d) => [d.uri, d]));
const kinds = (items: PlanItem[]) =>
  items.map((i) => [i.ref.uri, i.kind, i.ref.change, i.kind === "index" ? i.verifyHash : null]);

Deno.test("planIndexing(): size and mtime decide unchanged; a change is verified by hash", () => {
  const docs = [
    stored("/a"),
    stored("/b"),
    stored("/c"),
    stored("/d", { status: "skipped", error: "binary content", contentHash: null }),
    stored("/e", { status: "failed", error: "cannot read file", contentHash: null }),
  ];
  const plan = planIndexing(
    [{
      sourceId: S1,
      entries: [
        file("/a"),
        file("/b", 11),
        file("/c", 10, 2000),
        file("/d"),
        file("/e"),
        file("/new"),
      ],
    }],
    byUri(docs),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(kinds(plan.items), [
    ["/a", "unchanged", "modified", null],
    ["/b", "index", "modified", "h-/b"],
    ["/c", "index", "modified", "h-/c"],
    ["/d", "unchanged", "modified", null],
    // A failed document is tried again every run.
    ["/e", "index", "modified", null],
    ["/new", "index", "added", null],
  ]);
  const fresh = plan.items[5]!.ref;
  assert.equal(fresh.id, documentIdFor(C, "/new"));
  assert.equal(fresh.isNew, true);
  assert.equal(fresh.mayHavePoints, false);
  assert.equal(plan.items[1]!.ref.id, docs[1]!.id);
  assert.equal(plan.items[1]!.ref.mayHavePoints, true);
  assert.deepEqual(plan.deleted, []);
});

Deno.test("planIndexing(): scan problems are recorded unless already recorded alike", () => {
  const docs = [
    stored("/big", { status: "skipped", error: "too large", contentHash: null }),
    stored("/was-ok"),
  ];
  const plan = planIndexing(
    [{
      sourceId: S1,
      entries: [
        { kind: "skipped", uri: "/big", path: "big", reason: "too large", size: 99, mtimeMs: 5 },
        { kind: "failed", uri: "/was-ok", path: "was-ok", reason: "broken symbolic link" },
        { kind: "skipped", uri: "/fifo", path: "fifo", reason: "not a regular file" },
      ],
    }],
    byUri(docs),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(kinds(plan.items), [
    ["/big", "unchanged", "modified", null],
    ["/was-ok", "problem", "modified", null],
    ["/fifo", "problem", "added", null],
  ]);
});

Deno.test("planIndexing(): a file reached twice is planned once; a deleted row comes back as added", () => {
  const back = stored("/back", { status: "deleted" });
  const plan = planIndexing(
    [
      { sourceId: S1, entries: [file("/x"), file("/back")] },
      { sourceId: S2, entries: [file("/x"), file("/y")] },
    ],
    byUri([back]),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(plan.items.map((i) => [i.ref.uri, i.ref.sourceId]), [
    ["/x", S1],
    ["/back", S1],
    ["/y", S2],
  ]);
  const ref = plan.items[1]!.ref;
  assert.equal(ref.change, "added");
  assert.equal(ref.id, back.id);
  assert.equal(ref.isNew, false);
  assert.equal(ref.mayHavePoints, true);
});

Deno.test("planIndexing(): sync deletes what the scanned sources lost; other sources are left alone", () => {
  const docs = [
    stored("/keep"),
    stored("/gone"),
    stored("/already", { status: "deleted" }),
    stored("/other", { sourceId: S2 }),
    stored("/renamed-from"),
  ];
  const entries = [file("/keep"), file("/renamed-to")];
  const sync = planIndexing([{ sourceId: S1, entries }], byUri(docs), {
    operationId: OP,
    collectionId: C,
    deleteMissing: true,
  });
  assert.deepEqual(sync.deleted.map((r) => [r.uri, r.change]).sort(), [
    ["/gone", "deleted"],
    ["/renamed-from", "deleted"],
  ]);
  assert.deepEqual(kinds(sync.items), [
    ["/keep", "unchanged", "modified", null],
    ["/renamed-to", "index", "added", null],
  ]);
  const index = planIndexing([{ sourceId: S1, entries }], byUri(docs), {
    operationId: OP,
    collectionId: C,
  });
  assert.deepEqual(index.deleted, []);
});

Deno.test("planIndexing(): a resumed operation keeps its classifications and drops its stale pending rows", () => {
  const docs = [
    // Added by this operation's first attempt, recorded before the crash.
    stored("/done", { indexedBy: OP, lastChange: "added" }),
    // Written pending by the first attempt, not recorded yet.
    stored("/half", { status: "pending", indexedBy: OP, lastChange: "added", contentHash: null }),
    // Pending, and its file vanished meanwhile.
    stored("/vanished", { status: "pending", contentHash: null }),
  ];
  const plan = planIndexing(
    [{ sourceId: S1, entries: [file("/done", 10, 9), file("/half")] }],
    byUri(docs),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(kinds(plan.items), [
    ["/done", "index", "added", "h-/done"],
    ["/half", "index", "added", null],
  ]);
  assert.deepEqual(plan.deleted.map((r) => [r.uri, r.change]), [["/vanished", null]]);
});

Deno.test("planIndexing(): only a completed document's hash can make a change a touch; a problem with a new reason is recorded", () => {
  const docs = [
    // Completed once (its hash kept), failed since: retried in full, never called touched.
    stored("/failed-since", { status: "failed", error: "cannot read file", contentHash: "h-old" }),
    stored("/moved-on", { status: "skipped", error: "too large", contentHash: null }),
    stored("/same", { status: "skipped", error: "too large", contentHash: null }),
  ];
  const plan = planIndexing(
    [{
      sourceId: S1,
      entries: [
        file("/failed-since", 10, 5000),
        { kind: "skipped", uri: "/moved-on", path: "moved-on", reason: "not a regular file" },
        { kind: "skipped", uri: "/same", path: "same", reason: "too large", size: 99, mtimeMs: 5 },
      ],
    }],
    byUri(docs),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(kinds(plan.items), [
    ["/failed-since", "index", "modified", null],
    ["/moved-on", "problem", "modified", null],
    ["/same", "unchanged", "modified", null],
  ]);
});

Deno.test("planIndexing(): a Git or web token decides alone: same token unchanged, another token indexed unverified, the token kept on the ref", () => {
  const docs = [
    stored("/same", { changeToken: "git:aaa", mtimeMs: null }),
    // Same size, another blob: changed, though a size and mtime prefilter would miss it.
    stored("/other", { changeToken: "git:bbb", mtimeMs: null }),
    // Recorded before tokens were stored: indexed again.
    stored("/untokened", { mtimeMs: null }),
    stored("/skip", { status: "skipped", error: "no text", changeToken: "git:ddd" }),
  ];
  const plan = planIndexing(
    [{
      sourceId: S1,
      entries: [
        blob("/same", "aaa", 99),
        blob("/other", "ccc"),
        blob("/untokened", "eee"),
        blob("/skip", "ddd"),
        blob("/new", "fff"),
      ],
    }],
    byUri(docs),
    { operationId: OP, collectionId: C },
  );
  assert.deepEqual(kinds(plan.items), [
    ["/same", "unchanged", "modified", null],
    ["/other", "index", "modified", null],
    ["/untokened", "index", "modified", null],
    ["/skip", "unchanged", "modified", null],
    ["/new", "index", "added", null],
  ]);
  assert.deepEqual(plan.items.map((i) => i.ref.changeToken), [
    "git:aaa",
    "git:ccc",
    "git:eee",
    "git:ddd",
    "git:fff",
  ]);
});
