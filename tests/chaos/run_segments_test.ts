import assert from "node:assert/strict";
import type { EventFrame } from "./operation_follower.ts";
import { assertOneRunAtATime, runSegments } from "./run_segments.ts";

let nextId = 1;
const frame = (message: string, progress: number, status = "processing"): EventFrame => ({
  type: status === "completed" ? "OPERATION_COMPLETED" : "OPERATION_PROGRESS",
  event_id: nextId++,
  operation_id: "op",
  status,
  progress,
  message,
  error_message: null,
  metadata: null,
  timestamp: new Date().toISOString(),
});

Deno.test("runSegments() cuts a history at each run's first event", () => {
  nextId = 1;
  const runs = runSegments([
    frame("Started", 0),
    frame("Scanning 1 source", 0),
    frame("Processed 10 of 100 documents", 10),
    frame("Attempt 2 of 3", 10),
    frame("Processed 40 of 100 documents", 40),
    frame("Completed", 100, "completed"),
  ]);
  assert.deepEqual(runs, [
    { start: "Started", firstEventId: 1, lastEventId: 3, processed: 10 },
    { start: "Attempt 2 of 3", firstEventId: 4, lastEventId: 6, processed: 40 },
  ]);
});

Deno.test("assertOneRunAtATime() accepts runs one after the other", () => {
  nextId = 1;
  const runs = assertOneRunAtATime([
    frame("Started", 0),
    frame("Processed 12 of 50 documents", 24),
    frame("Started", 24),
    frame("Processed 20 of 50 documents", 40),
    frame("Completed", 100, "completed"),
  ]);
  assert.equal(runs.length, 2);
});

Deno.test("assertOneRunAtATime() rejects the interleaved reports of two runs at once", () => {
  nextId = 1;
  assert.throws(
    () =>
      assertOneRunAtATime([
        frame("Started", 0),
        frame("Processed 30 of 50 documents", 60),
        frame("Attempt 2 of 3", 60),
        frame("Processed 31 of 50 documents", 62),
        // The first run, still going, reports its own older count.
        frame("Processed 30 of 50 documents", 60),
      ]),
    /went down/,
  );
});
