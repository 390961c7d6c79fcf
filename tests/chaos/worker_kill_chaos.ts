/**
 * Chaos scenario 1: a worker is SIGKILLed in the middle of an indexing operation, then the
 * worker that took the job over is SIGKILLed too. The operation completes on a third worker, and
 * the documents, chunk rows and points (counted in the shared pgvector store) are exactly what an
 * undisturbed run records: nothing lost, nothing doubled. WebSocket clients that keep dropping
 * their connection see every event id once, in order.
 */
import assert from "node:assert/strict";
import { waitFor } from "../../shared/testing/wait.ts";
import { type ChaosWorker, startChaosSystem } from "./chaos_system.ts";
import { assertIndexedAsExpected, startIndexing } from "./index_collection.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";
import { assertOneRunAtATime } from "./run_segments.ts";

const FILES = 600;

Deno.test("chaos 1: SIGKILL a worker mid-operation, then the one that took over: it completes with exact counts", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "pgvector", workers: 2 });
  const followers: OperationFollower[] = [];
  try {
    const { expected, user, collectionId, opId, opStarted } = await startIndexing(system, {
      folder: "kill",
      name: "killed twice",
      files: FILES,
    });
    for (let i = 0; i < 3; i++) {
      followers.push(
        new OperationFollower({ wsUrl: system.wsUrl, token: user.token, operationId: opId }),
      );
    }

    // Kill whichever worker runs the job once it has recorded some documents; twice.
    const killed: { worker: ChaosWorker; completedAt: number }[] = [];
    for (const fraction of [0.15, 0.45]) {
      const holder = await system.waitForHolder(opId, killed.map((k) => k.worker));
      const floor = Math.max(Math.ceil(FILES * fraction), (killed.at(-1)?.completedAt ?? 0) + 20);
      await waitFor(
        `${floor} documents recorded by ${holder.name}`,
        async () => (await system.completedDocuments(collectionId)) >= floor,
        { timeoutMs: 180_000, intervalMs: 25 },
      );
      assert.equal((await system.holderOf(opId))?.name, holder.name, "the job moved on its own");
      holder.proc.child.kill("SIGKILL");
      const status = await holder.proc.status;
      assert.equal(status.signal, "SIGKILL");
      const completedAt = await system.completedDocuments(collectionId);
      assert.ok(completedAt < FILES, `the operation was finished (${completedAt}) before the kill`);
      killed.push({ worker: holder, completedAt });
      // Keep two workers running.
      await system.startWorker();
    }
    assert.notEqual(killed[0]!.worker.name, killed[1]!.worker.name);

    const done = await system.waitForOperation(opId);
    const opMs = performance.now() - opStarted;
    assert.equal(done.status, "completed", `${done.error_message}\n${system.dump()}`);
    assert.equal(done.attempts, 3, "each takeover counts an attempt");
    const counts = await assertIndexedAsExpected(system, { collectionId, expected });
    const m = done.metadata as Record<string, number>;
    assert.equal(m.documents_processed, expected.documents.completed, "counted across attempts");
    assert.equal(m.documents_skipped, expected.documents.skipped);
    assert.equal(m.chunks_created, expected.chunks);
    const collection = await system.call("GET", `/api/v2/collections/${collectionId}`, {
      token: user.token,
    });
    assert.equal(collection.body.status, "ready");
    assert.equal(collection.body.vector_count, expected.chunks);
    assert.equal(collection.body.chunk_count, expected.chunks);

    const summaries = await Promise.all(followers.map((f) => f.done));
    const last = await system.lastPublishedEvent(opId);
    assert.equal(last.type, "OPERATION_COMPLETED");
    const lastId = last.id;
    for (const s of summaries) {
      assert.deepEqual(s.violations, [], `follower of ${opId}`);
      // Redis lost nothing here: every event it needed was retained, so no snapshot.
      assert.equal(s.snapshots, 0);
      assert.equal(s.final?.type, "OPERATION_COMPLETED");
      assert.equal(s.lastEventId, lastId);
    }
    const runs = assertOneRunAtATime(followers[0]!.frames);
    assert.deepEqual(runs.map((r) => r.start), ["Started", "Attempt 2 of 3", "Attempt 3 of 3"]);

    printResult("1. SIGKILL two workers mid-operation", startedAt, [
      `operation completed in ${seconds(opMs)} after 3 attempts; killed ${
        killed[0]!.worker.name
      } ` +
      `at ${killed[0]!.completedAt}/${FILES} documents and ${killed[1]!.worker.name} at ` +
      `${killed[1]!.completedAt}/${FILES}`,
      `documents ${counts.documents.completed} completed + ${counts.documents.skipped} skipped, ` +
      `chunks ${counts.chunks}, points in pgvector ${counts.vectors} ` +
      `(expected ${expected.documents.completed} + ${expected.documents.skipped}, ` +
      `${expected.chunks}, ${expected.chunks}); no duplicate or stray point`,
      `event history: ${runs.length} handler runs one after the other ` +
      `(${runs.map((r) => r.start).join(", ")}), progress never went back`,
      followersLine(summaries),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
