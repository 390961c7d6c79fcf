/**
 * Chaos scenario 2: Redis (no persistence) is killed and restarted empty in the middle of an
 * indexing operation. Jobs, leases, event streams and consumer groups are gone; Postgres still
 * says `processing`. The worker that ran the job loses its lease and stops; the scheduler's next
 * reconcile (on its real one-minute schedule) finds the operation with no job and enqueues it
 * again; it resumes and completes with exactly the counts of an undisturbed run. Event ids go on
 * from where Postgres had them, so WebSocket clients see no gap and no repeat.
 */
import assert from "node:assert/strict";
import { waitFor } from "../../shared/testing/wait.ts";
import { startChaosSystem } from "./chaos_system.ts";
import { assertIndexedAsExpected, startIndexing } from "./index_collection.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";
import { assertOneRunAtATime } from "./run_segments.ts";

const FILES = 500;

Deno.test("chaos 2: restart Redis (no persistence) mid-operation: it completes after reconcile", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "qdrant", workers: 2 });
  const followers: OperationFollower[] = [];
  try {
    const { expected, user, collectionId, opId, opStarted } = await startIndexing(system, {
      folder: "flushed",
      name: "redis restarted",
      files: FILES,
      seed: 2,
    });
    for (let i = 0; i < 3; i++) {
      followers.push(
        new OperationFollower({ wsUrl: system.wsUrl, token: user.token, operationId: opId }),
      );
    }

    const holder = await system.waitForHolder(opId);
    await waitFor(
      "a quarter of the documents",
      async () => (await system.completedDocuments(collectionId)) >= FILES / 4,
      { timeoutMs: 180_000, intervalMs: 25 },
    );
    const before = await system.operation(opId);
    assert.equal(before.status, "processing");
    const idsBefore = Math.max(...followers.map((f) => f.lastEventId));
    assert.ok(system.redis, "the scenario runs on the private node");
    await system.redis.restart();
    const restartedAt = performance.now();
    const doneAtRestart = await system.completedDocuments(collectionId);
    assert.ok(doneAtRestart < FILES, "the operation finished before the restart");

    // The worker finds its job gone at the next lease renewal and stops the handler.
    await holder.proc.waitForLine(/lost a job's lease; aborting its handler/, 60_000);
    assert.equal(await system.queues.getJobState(opId), null, "the job survived the restart");
    assert.equal((await system.operation(opId)).status, "processing");

    // The scheduler's next reconcile enqueues it again; a worker says so.
    const requeue = await waitFor(
      "a worker to requeue the operation",
      () =>
        system.workers.find((w) =>
          w.proc.lines.some((l) =>
            l.includes("active operation had no job; enqueued again") && l.includes(opId)
          )
        ),
      { timeoutMs: 180_000, intervalMs: 100 },
    );
    const requeuedAt = performance.now();

    const done = await system.waitForOperation(opId);
    const opMs = performance.now() - opStarted;
    assert.equal(done.status, "completed", `${done.error_message}\n${system.dump()}`);
    const counts = await assertIndexedAsExpected(system, { collectionId, expected });
    const m = done.metadata as Record<string, number>;
    assert.equal(m.documents_processed, expected.documents.completed);
    assert.equal(m.chunks_created, expected.chunks);

    const summaries = await Promise.all(followers.map((f) => f.done));
    const last = await system.lastPublishedEvent(opId);
    assert.equal(last.type, "OPERATION_COMPLETED");
    const lastId = last.id;
    for (const s of summaries) {
      assert.deepEqual(s.violations, [], `follower of ${opId}`);
      assert.equal(s.final?.type, "OPERATION_COMPLETED");
      assert.equal(s.lastEventId, lastId);
    }
    // Ids went on after the restart: the first event published after it is above every id before.
    const frames = followers[0]!.frames;
    const after = frames.find((f) => f.event_id > idsBefore);
    assert.ok(after, "no event after the restart");
    const runs = assertOneRunAtATime(frames.filter((f) => f.type !== "OPERATION_SNAPSHOT"));
    assert.ok(runs.length >= 2, `runs: ${JSON.stringify(runs)}`);

    printResult("2. Redis restarted empty mid-operation", startedAt, [
      `Redis killed and restarted at ${doneAtRestart}/${FILES} documents; ${holder.name} lost ` +
      `the job's lease and stopped; the scheduler's reconcile requeued it ` +
      `${seconds(requeuedAt - restartedAt)} later (run by ${requeue.name}); operation ` +
      `completed ${seconds(opMs)} after it was created`,
      `documents ${counts.documents.completed} completed + ${counts.documents.skipped} skipped, ` +
      `chunks ${counts.chunks}, points in Qdrant ${counts.vectors} ` +
      `(expected ${expected.documents.completed} + ${expected.documents.skipped}, ` +
      `${expected.chunks}, ${expected.chunks}); no duplicate or stray point`,
      `event ids went on from ${idsBefore} (the last before the restart) to ${lastId}, never ` +
      `back (floored by Postgres' event_seq); ` +
      `${runs.length} handler runs one after the other`,
      followersLine(summaries),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
