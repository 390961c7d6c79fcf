import assert from "node:assert/strict";
import { mergeOperation } from "./operation_state.js";

const ID = "7d4f3c2e-0000-4000-8000-000000000001";
const processing = {
  id: ID,
  type: "index",
  status: "processing",
  progress: 40,
  message: "Indexing",
  created_at: "2026-12-01T10:00:00.000Z",
};
const cancelled = { ...processing, status: "cancelled", progress: 40, message: "Cancelled" };

Deno.test("a cancel's answer that arrives after the cancelled frame does not bring the operation back", () => {
  // The order the page saw: the frame first, then the answer read before it (cancel requested).
  const afterFrame = mergeOperation(processing, cancelled, { live: true });
  assert.equal(afterFrame.status, "cancelled");
  const afterAnswer = mergeOperation(afterFrame, { ...processing, progress: 41 }, { live: false });
  assert.deepEqual(afterAnswer, cancelled);
});

Deno.test("a list read before an operation finished does not bring it back either", () => {
  for (const status of ["completed", "failed", "cancelled"]) {
    const shown = { ...processing, status, progress: 100 };
    const stale = { ...processing, status: "pending", progress: 0 };
    assert.equal(mergeOperation(shown, stale, { live: false }).status, status);
  }
});

Deno.test("a frame always applies: a failed operation requeued shows pending again", () => {
  const failed = { ...processing, status: "failed", error_message: "boom" };
  const requeued = {
    id: ID,
    status: "pending",
    progress: 0,
    message: "Requeued",
    error_message: null,
  };
  const shown = mergeOperation(failed, requeued, { live: true });
  assert.equal(shown.status, "pending");
  assert.equal(shown.message, "Requeued");
  assert.equal(shown.error_message, null);
  assert.equal(shown.created_at, processing.created_at, "keeps what the frame does not carry");
});

Deno.test("REST answers move an active operation on, and a finished one's answer applies", () => {
  const later = mergeOperation(processing, { ...processing, progress: 70 }, { live: false });
  assert.equal(later.progress, 70);
  const done = mergeOperation(processing, { ...processing, status: "completed" }, { live: false });
  assert.equal(done.status, "completed");
  // A refused action's message on a finished operation.
  const noted = mergeOperation(cancelled, { ...cancelled, message: "already finished" }, {
    live: false,
  });
  assert.equal(noted.message, "already finished");
});

Deno.test("an operation first heard of on the socket sorts as made when it was heard of", () => {
  const now = "2026-12-06T23:00:00.000Z";
  const fromFrame = { id: ID, status: "pending", progress: 0 };
  assert.equal(mergeOperation(undefined, fromFrame, { live: true, now }).created_at, now);
  // A known creation time stays, from the page or from the news.
  assert.equal(
    mergeOperation(processing, fromFrame, { live: true, now }).created_at,
    processing.created_at,
  );
  assert.equal(
    mergeOperation(undefined, processing, { live: false, now }).created_at,
    processing.created_at,
  );
});
