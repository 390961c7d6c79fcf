import assert from "node:assert/strict";
import { eventFrame, FrameQueue } from "./frame_queue.ts";

const frame = (op: string, type: string, status: string, n: number) =>
  eventFrame({ type, operation_id: op, status }, JSON.stringify({ type, op, status, n }));

const drain = (q: FrameQueue) => {
  const out: number[] = [];
  for (let f = q.shift(); f; f = q.shift()) out.push(JSON.parse(f.text).n);
  return out;
};

Deno.test("FrameQueue drops a queued progress frame when a newer one of the same status comes", () => {
  const q = new FrameQueue();
  q.sent(frame("a", "OPERATION_PROGRESS", "processing", 0));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 1));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 2));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 3));
  assert.equal(q.dropped, 2);
  assert.equal(q.length, 1);
  assert.deepEqual(drain(q), [3]);
  assert.equal(q.bytes, 0);
});

Deno.test("FrameQueue never drops a status change, a snapshot, a terminal frame or a pong", () => {
  const q = new FrameQueue();
  q.push(frame("a", "OPERATION_SNAPSHOT", "pending", 1));
  q.push(frame("a", "OPERATION_PROGRESS", "pending", 2)); // same status as the snapshot
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 3)); // status change: kept
  q.push({ text: JSON.stringify({ type: "pong", n: 4 }) });
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 5)); // supersedes nothing: 3 is a change
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 6)); // supersedes 5
  q.push(frame("a", "OPERATION_COMPLETED", "completed", 7));
  assert.deepEqual(drain(q), [1, 2, 3, 4, 6, 7]);
  assert.equal(q.dropped, 1);
});

Deno.test("FrameQueue keeps each operation's own frames and order apart", () => {
  const q = new FrameQueue();
  q.sent(frame("a", "OPERATION_PROGRESS", "processing", 0));
  q.sent(frame("b", "OPERATION_PROGRESS", "processing", 0));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 1));
  q.push(frame("b", "OPERATION_PROGRESS", "processing", 2));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 3));
  q.push(frame("b", "OPERATION_FAILED", "failed", 4));
  assert.deepEqual(drain(q), [2, 3, 4]);
});

Deno.test("FrameQueue does not drop a frame already handed to the socket", () => {
  const q = new FrameQueue();
  q.sent(frame("a", "OPERATION_PROGRESS", "processing", 0));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 1));
  assert.deepEqual(drain(q), [1]);
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 2));
  assert.equal(q.dropped, 0);
  assert.deepEqual(drain(q), [2]);
});

Deno.test("FrameQueue counts bytes and forgets operations after their terminal frame", () => {
  const q = new FrameQueue();
  const f = frame("a", "OPERATION_PROGRESS", "processing", 1);
  q.push(f);
  assert.equal(q.bytes, f.text.length);
  q.push(frame("a", "OPERATION_CANCELLED", "cancelled", 2));
  drain(q);
  // Forgotten: a frame for the same id after the end counts as a change (nothing to compare with).
  q.push(frame("a", "OPERATION_PROGRESS", "cancelled", 3));
  q.push(frame("a", "OPERATION_PROGRESS", "cancelled", 4));
  assert.deepEqual(drain(q), [3, 4]);
  q.clear();
  assert.equal(q.length, 0);
  assert.equal(q.peek(), undefined);
});

Deno.test("FrameQueue follows several operations apart when the first ends and another begins", () => {
  const q = new FrameQueue();
  q.sent(frame("a", "OPERATION_PROGRESS", "processing", 0));
  q.sent(frame("b", "OPERATION_PROGRESS", "processing", 0));
  q.sent(frame("a", "OPERATION_COMPLETED", "completed", 0));
  q.sent(frame("c", "OPERATION_PROGRESS", "pending", 0));
  q.sent(frame("c", "OPERATION_PROGRESS", "processing", 0));
  q.push(frame("b", "OPERATION_PROGRESS", "processing", 1));
  q.push(frame("c", "OPERATION_PROGRESS", "processing", 2));
  q.push(frame("b", "OPERATION_PROGRESS", "processing", 3)); // supersedes 1
  q.push(frame("c", "OPERATION_PROGRESS", "processing", 4)); // supersedes 2
  // a ended: its next frame has nothing to compare with, so it is kept.
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 5));
  q.push(frame("a", "OPERATION_PROGRESS", "processing", 6)); // supersedes nothing: 5 is a change
  assert.deepEqual(drain(q), [3, 4, 5, 6]);
  assert.equal(q.dropped, 2);
  // b (kept beside the first operation) ends too, and is forgotten the same way.
  q.sent(frame("b", "OPERATION_FAILED", "failed", 0));
  q.push(frame("b", "OPERATION_PROGRESS", "processing", 7));
  q.push(frame("b", "OPERATION_PROGRESS", "processing", 8));
  assert.deepEqual(drain(q), [7, 8]);
});
