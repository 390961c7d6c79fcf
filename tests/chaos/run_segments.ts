/**
 * Reads an operation's event history for signs that two workers ran it at the same time.
 *
 * Every run of an operation's handler starts with a status event whose message is `Started` (a
 * first attempt, or a job handed back at shutdown) or `Attempt N of M` (a retry or a takeover),
 * then reports `Processed D of T documents`, where D counts the documents done by every run so
 * far. One run at a time gives a history cut into runs, one after the other, in which progress
 * and D never go down. Two runs at once interleave their reports, and the older run's D falls
 * behind the newer run's or the other way round.
 */
import assert from "node:assert/strict";
import type { EventFrame } from "./operation_follower.ts";

/** One handler run, as its events show it. */
export interface RunSegment {
  /** The message it started with. */
  start: string;
  /** Event ids of its first and last event. */
  firstEventId: number;
  lastEventId: number;
  /** The highest `Processed D` it reported. */
  processed: number;
}

const RUN_START = /^(Started|Attempt \d+ of \d+)$/;
const PROCESSED = /^Processed (\d+) of (\d+) documents$/;

/** Cuts the history into runs. Frames before the first run start (a snapshot) open no run. */
export function runSegments(frames: readonly EventFrame[]): RunSegment[] {
  const runs: RunSegment[] = [];
  for (const f of frames) {
    if (f.type !== "OPERATION_SNAPSHOT" && f.message && RUN_START.test(f.message)) {
      runs.push({
        start: f.message,
        firstEventId: f.event_id,
        lastEventId: f.event_id,
        processed: 0,
      });
      continue;
    }
    const run = runs.at(-1);
    if (!run) continue;
    run.lastEventId = f.event_id;
    const m = f.message ? PROCESSED.exec(f.message) : null;
    if (m) run.processed = Math.max(run.processed, Number(m[1]));
  }
  return runs;
}

/**
 * Asserts the history shows one run at a time: progress and the processed count never go down,
 * across runs too. Returns the runs.
 */
export function assertOneRunAtATime(frames: readonly EventFrame[]): RunSegment[] {
  let progress = 0;
  let processed = 0;
  let total: number | undefined;
  for (const f of frames) {
    if (f.status !== "processing" && f.status !== "completed") continue;
    assert.ok(
      f.progress >= progress,
      `progress went down from ${progress} to ${f.progress} at event ${f.event_id} (${f.message})`,
    );
    progress = f.progress;
    const m = f.message ? PROCESSED.exec(f.message) : null;
    if (!m) continue;
    const d = Number(m[1]);
    const t = Number(m[2]);
    assert.ok(
      d >= processed,
      `documents processed went down from ${processed} to ${d} at event ${f.event_id}`,
    );
    assert.ok(total === undefined || t === total, `the total changed from ${total} to ${t}`);
    processed = d;
    total = t;
  }
  const runs = runSegments(frames);
  assert.ok(runs.length >= 1, "no run started");
  return runs;
}
