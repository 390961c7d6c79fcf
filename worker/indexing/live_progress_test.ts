import assert from "node:assert/strict";
import { LiveProgress } from "./live_progress.ts";

Deno.test("LiveProgress counts documents and chunks and estimates the seconds left from the rate so far", () => {
  let now = 1_000_000;
  const p = new LiveProgress({ total: 4, now: () => now });
  assert.deepEqual(p.snapshot(), {
    documents_total: 4,
    documents_done: 0,
    documents_processed: 0,
    documents_failed: 0,
    documents_skipped: 0,
    chunks_created: 0,
    current_document: null,
    chunks_per_second: 0,
    eta_seconds: null,
  });
  p.working("/d/a.txt");
  now += 10_000;
  p.recorded({ documentId: "a", kind: "processed", chunks: 30 });
  p.working("/d/b.txt");
  // One of four done in 10 s: 30 s left; 30 chunks in 10 s.
  assert.deepEqual(p.snapshot(), {
    documents_total: 4,
    documents_done: 1,
    documents_processed: 1,
    documents_failed: 0,
    documents_skipped: 0,
    chunks_created: 30,
    current_document: "/d/b.txt",
    chunks_per_second: 3,
    eta_seconds: 30,
  });
  // Half of a long document written: 1.5 of 4 in 20 s -> 2.5 * 20 / 1.5 = 33 s left.
  now += 10_000;
  p.partial({ documentId: "b", uri: "/d/b.txt", written: 10, total: 20 });
  const mid = p.snapshot();
  assert.equal(mid.chunks_created, 40);
  assert.equal(mid.eta_seconds, 33);
  assert.equal(mid.chunks_per_second, 2);
  p.recorded({ documentId: "b", kind: "processed", chunks: 20 });
  p.recorded({ documentId: "c", kind: "failed" });
  p.recorded({ documentId: "d", kind: "skipped" });
  const end = p.snapshot();
  assert.deepEqual(
    [end.documents_done, end.documents_processed, end.documents_failed, end.documents_skipped],
    [4, 2, 1, 1],
  );
  assert.equal(end.chunks_created, 50, "the in-flight chunks are not counted twice");
  assert.equal(end.eta_seconds, 0);
});

Deno.test("LiveProgress refuses a negative total", () => {
  assert.throws(() => new LiveProgress({ total: -1 }), RangeError);
});
