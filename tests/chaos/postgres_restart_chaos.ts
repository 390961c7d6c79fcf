/**
 * Chaos scenario 3: Postgres crashes (immediate shutdown, no checkpoint) in the middle of an
 * indexing operation and comes back a few seconds later. Workers and the API reconnect by
 * themselves. The operation either completes (the failed attempt is retried with backoff once
 * the database answers) or fails with a message that says what happened, and `retry` then
 * completes it; either way the counts are exactly those of an undisturbed run.
 */
import assert from "node:assert/strict";
import { waitFor } from "../../shared/testing/wait.ts";
import { startChaosSystem } from "./chaos_system.ts";
import { assertIndexedAsExpected, startIndexing } from "./index_collection.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";
import { assertOneRunAtATime } from "./run_segments.ts";

const FILES = 500;
const DOWN_MS = 4000;

Deno.test("chaos 3: restart Postgres mid-operation: workers and API reconnect, the operation completes", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "pgvector", workers: 2 });
  const followers: OperationFollower[] = [];
  try {
    const { expected, user, collectionId, opId, opStarted } = await startIndexing(system, {
      folder: "pg",
      name: "postgres restarted",
      files: FILES,
      seed: 3,
    });
    const follow = (operationId: string) => {
      const f = new OperationFollower({ wsUrl: system.wsUrl, token: user.token, operationId });
      followers.push(f);
      return f;
    };
    for (let i = 0; i < 3; i++) follow(opId);

    await system.waitForHolder(opId);
    await waitFor(
      "a quarter of the documents",
      async () => (await system.completedDocuments(collectionId)) >= FILES / 4,
      { timeoutMs: 180_000, intervalMs: 25 },
    );
    const doneAtCrash = await system.completedDocuments(collectionId);
    // While it is down the API answers with an error, not a hang, and comes back on its own.
    const restarting = system.pg.restart({ mode: "immediate", downMs: DOWN_MS });
    const during = await waitFor("the API to notice the database is down", async () => {
      const r = await system.call("GET", `/api/v2/collections/${collectionId}`, {
        token: user.token,
      });
      return r.status >= 500 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.equal(during.body.error.code, "unavailable");
    await restarting;
    const upAt = performance.now();
    const back = await waitFor("the API to answer again", async () => {
      const r = await system.call("GET", `/api/v2/collections/${collectionId}`, {
        token: user.token,
      });
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const apiBackMs = performance.now() - upAt;
    assert.equal(back.body.id, collectionId);

    let done = await system.waitForOperation(opId);
    let finalId = opId;
    let outcome: string;
    if (done.status === "failed") {
      // The contract's other way out: a clear message, and retry completes it.
      assert.ok(done.error_message && done.error_message.length > 10, done.error_message ?? "");
      const retried = await system.call("POST", `/api/v2/operations/${opId}/retry`, {
        token: user.token,
      });
      assert.equal(retried.status, 202, JSON.stringify(retried.body));
      finalId = retried.body.operation.id;
      follow(finalId);
      done = await system.waitForOperation(finalId);
      outcome = `failed with "${(await system.operation(opId)).error_message}"; retry ${
        finalId.slice(0, 8)
      } completed`;
    } else {
      outcome = `completed by itself after ${done.attempts} attempts`;
    }
    const opMs = performance.now() - opStarted;
    assert.equal(done.status, "completed", `${done.error_message}\n${system.dump()}`);

    const counts = await assertIndexedAsExpected(system, { collectionId, expected });

    const summaries = await Promise.all(followers.map((f) => f.done));
    for (const s of summaries) {
      assert.deepEqual(s.violations, [], `follower of ${s.operationId}`);
      // Redis lost nothing here: every event it needed was retained, so no snapshot.
      assert.equal(s.snapshots, 0);
      const row = await system.operation(s.operationId);
      const last = await system.lastPublishedEvent(s.operationId);
      assert.equal(s.lastEventId, last.id);
      assert.equal(s.final?.type, last.type);
      assert.equal(s.final?.status, row.status);
    }
    const runs = assertOneRunAtATime(
      followers[0]!.frames.filter((f) => f.type !== "OPERATION_SNAPSHOT"),
    );
    // Every process is still the one started: nothing had to be restarted by hand.
    for (const w of system.workers) {
      assert.equal(w.exit, undefined, `${w.name} exited; its output:\n${w.proc.lines.join("\n")}`);
    }
    assert.equal(
      await Promise.race([system.api.status.then(() => "exited"), "running"]),
      "running",
    );

    printResult("3. Postgres crashed and restarted mid-operation", startedAt, [
      `Postgres stopped (immediate) at ${doneAtCrash}/${FILES} documents for ` +
      `${seconds(DOWN_MS)}; the API answered ${during.status} meanwhile and 200 again ` +
      `${seconds(apiBackMs)} after it was back; no process restarted`,
      `operation ${outcome}; ${seconds(opMs)} from creation to completion; ` +
      `${runs.length} handler runs one after the other`,
      `documents ${counts.documents.completed} completed + ${counts.documents.skipped} skipped, ` +
      `chunks ${counts.chunks}, points in pgvector ${counts.vectors} ` +
      `(expected ${expected.documents.completed} + ${expected.documents.skipped}, ` +
      `${expected.chunks}, ${expected.chunks}); no duplicate or stray point`,
      followersLine(summaries),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
