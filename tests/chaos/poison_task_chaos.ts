/**
 * Chaos scenario 5: a task that always throws. Qdrant refuses every point upsert into one
 * collection (storage full for that collection; the failing proxy in front of the Qdrant fake),
 * so that collection's indexing job fails on every attempt: it is retried with backoff, goes to
 * the dead letters after its last attempt, and its operation becomes `failed` with Qdrant's
 * message. Operations on two other collections, running meanwhile on the same workers, complete
 * with exact counts, and one started afterwards does too. Once the fault is gone, `retry`
 * completes the failed one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startChaosSystem } from "./chaos_system.ts";
import { expectedIndex, writeChaosCorpus } from "./chaos_corpus.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";

const FILES = 120;

Deno.test("chaos 5: a task that always throws: dead letter, failed with the message, others unaffected", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({ vectorStore: "qdrant", workers: 2 });
  const followers: OperationFollower[] = [];
  const follow = (operationId: string, token: string) => {
    followers.push(new OperationFollower({ wsUrl: system.wsUrl, token, operationId }));
  };
  try {
    const proxy = system.qdrant!.proxy;
    const user = await system.user();
    const corpora = await Promise.all(
      ["poisoned", "healthy-a", "healthy-b"].map((name, i) =>
        writeChaosCorpus(join(system.docs, name), { files: FILES, seed: 50 + i })
      ),
    );
    const expected = await Promise.all(
      corpora.map((c) => expectedIndex(c.dir, { modelsDir: system.modelsDir })),
    );

    // The poisoned collection exists first, so its vector collection's name is known.
    const poisoned = await system.call("POST", "/api/v2/collections", {
      token: user.token,
      body: { name: "poisoned" },
    });
    assert.equal(poisoned.status, 201, JSON.stringify(poisoned.body));
    const poisonedId: string = poisoned.body.collection.id;
    const prefix = `col_${poisonedId.replaceAll("-", "")}`;
    proxy.failUpserts(prefix);
    const opStarted = performance.now();
    const appended = await system.call("POST", `/api/v2/collections/${poisonedId}/sources`, {
      token: user.token,
      body: { type: "directory", path: corpora[0]!.dir },
    });
    assert.equal(appended.status, 202, JSON.stringify(appended.body));
    const poisonOpId: string = appended.body.operation.id;
    follow(poisonOpId, user.token);
    const healthy: { id: string; opId: string }[] = [];
    for (const [i, name] of ["healthy a", "healthy b"].entries()) {
      const created = await system.call("POST", "/api/v2/collections", {
        token: user.token,
        body: { name, source: { type: "directory", path: corpora[i + 1]!.dir } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      healthy.push({ id: created.body.collection.id, opId: created.body.operation.id });
      follow(created.body.operation.id, user.token);
    }

    const failed = await system.waitForOperation(poisonOpId);
    const failedMs = performance.now() - opStarted;
    assert.equal(failed.status, "failed", system.dump());
    assert.equal(failed.attempts, 3);
    assert.ok(
      failed.error_message?.includes("No space left on device"),
      `error_message: ${failed.error_message}`,
    );
    assert.equal((await system.counts(poisonedId)).documents.completed ?? 0, 0);
    // Healthy operations ran on the same workers meanwhile and finished first.
    const healthyRows = await Promise.all(healthy.map((h) => system.waitForOperation(h.opId)));
    for (const [i, row] of healthyRows.entries()) {
      assert.equal(row.status, "completed", `${row.error_message}`);
      assert.ok(row.completed_at! < failed.completed_at!, "a healthy operation waited");
      const counts = await system.counts(healthy[i]!.id);
      assert.equal(counts.documents.completed, expected[i + 1]!.documents.completed);
      assert.equal(counts.chunks, expected[i + 1]!.chunks);
      assert.equal(counts.vectors, expected[i + 1]!.chunks);
    }

    // The dead letter, as its owner sees it.
    const dead = await system.call("GET", "/api/v2/dead-letters", { token: user.token });
    assert.equal(dead.status, 200);
    assert.equal(dead.body.jobs.length, 1, JSON.stringify(dead.body));
    const letter = dead.body.jobs[0];
    assert.equal(letter.operation_id, poisonOpId);
    assert.equal(letter.task, "indexing.process_source");
    assert.equal(letter.queue, "default");
    assert.equal(letter.attempts, 3);
    assert.match(letter.error, /No space left on device/);
    const stranger = await system.user();
    const theirs = await system.call("GET", "/api/v2/dead-letters", { token: stranger.token });
    assert.deepEqual(theirs.body.jobs, [], "another user sees the dead letter");

    // Other work goes on: a sync of a healthy collection completes.
    const sync = await system.call("POST", `/api/v2/collections/${healthy[0]!.id}/sync`, {
      token: user.token,
    });
    assert.equal(sync.status, 202, JSON.stringify(sync.body));
    follow(sync.body.operation.id, user.token);
    const synced = await system.waitForOperation(sync.body.operation.id);
    assert.equal(synced.status, "completed", synced.error_message ?? "");

    // The fault is fixed: retry completes the failed operation with the expected counts.
    proxy.heal(prefix);
    const retried = await system.call("POST", `/api/v2/operations/${poisonOpId}/retry`, {
      token: user.token,
    });
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    follow(retried.body.operation.id, user.token);
    const retryRow = await system.waitForOperation(retried.body.operation.id);
    assert.equal(retryRow.status, "completed", retryRow.error_message ?? "");
    const counts = await system.counts(poisonedId);
    assert.equal(counts.documents.completed, expected[0]!.documents.completed);
    assert.equal(counts.chunks, expected[0]!.chunks);
    assert.equal(counts.vectors, expected[0]!.chunks);

    const summaries = await Promise.all(followers.map((f) => f.done));
    for (const f of followers) {
      const row = await system.operation(f.operationId);
      assert.deepEqual(f.violations, [], `follower of ${f.operationId}`);
      // Redis lost nothing here: every event it needed was retained, so no snapshot.
      assert.equal(f.summary.snapshots, 0, `snapshot for ${f.operationId}`);
      const last = await system.lastPublishedEvent(f.operationId);
      assert.equal(f.lastEventId, last.id);
      assert.equal(f.summary.final?.type, last.type);
      assert.equal(f.summary.final?.status, row.status);
    }
    const poisonFollower = followers[0]!;
    assert.equal(poisonFollower.summary.final?.type, "OPERATION_FAILED");
    assert.ok(
      poisonFollower.frames.some((f) => /retry/i.test(f.message ?? "")),
      "no event said the operation would be retried",
    );

    printResult("5. A task that always throws", startedAt, [
      `Qdrant refused every upsert into one collection (${proxy.failed} refused calls): its ` +
      `operation failed after 3 attempts, ${seconds(failedMs)} after creation, with ` +
      `"${failed.error_message}"`,
      `GET /api/v2/dead-letters: 1 job (${letter.task}, attempts ${letter.attempts}), ` +
      `only for its owner`,
      `meanwhile 2 operations on other collections completed first with exact counts ` +
      `(${expected[1]!.chunks} and ${expected[2]!.chunks} chunks = points), and a sync ` +
      `started after the failure completed`,
      `fault removed, POST /retry: completed with ${counts.documents.completed} documents, ` +
      `${counts.chunks} chunks, ${counts.vectors} points (expected ${
        expected[0]!.documents.completed
      }, ${expected[0]!.chunks}, ${expected[0]!.chunks})`,
      followersLine(summaries),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
