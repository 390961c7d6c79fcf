/**
 * The chaos scenario of a Redis failover (issue 22), shared by the Redis Cluster and the Sentinel
 * runs: the whole system as processes (chaos_system.ts) on a Redis topology the run started; two
 * workers index a corpus; the operation is created through one API process and followed over
 * WebSockets on a second API process; mid-operation the Redis master chosen by the run (on a
 * cluster the one holding the most keys) is SIGKILLed and its replica takes over. Then:
 *
 * - the operation completes, with the documents, chunk rows and points (counted in the shared
 *   pgvector store) of an undisturbed run, one point per chunk row;
 * - every client on the second API process receives the terminal frame, and no event id reaches
 *   a client twice: event frames carry strictly increasing ids with no gap; a snapshot (the
 *   contract's stand-in for events Redis lost) never goes back.
 *
 * Prints a `[chaos]` block like the scenarios of tests/chaos.
 */
import assert from "node:assert/strict";
import type { RedisTarget } from "../../shared/redis/redis_target.ts";
import { WAIT_MS, waitFor } from "../../shared/testing/wait.ts";
import { ROW_CHECK_MS } from "../../api/ws/operation_watch.ts";
import { type ChaosSystem, startChaosSystem } from "../chaos/chaos_system.ts";
import { assertIndexedAsExpected, startIndexing } from "../chaos/index_collection.ts";
import { type EventFrame, OperationFollower } from "../chaos/operation_follower.ts";
import { followersLine, printResult, seconds } from "../chaos/chaos_report.ts";

/** The node a run kills, chosen once the operation is mid-way. */
export interface FailoverVictim {
  port: number;
  /** Why this node, for the report (`master with the most keys: 812 of 1630`). */
  why: string;
}

/** Options of {@link runFailoverChaos}. */
export interface FailoverChaosOptions {
  /** The report's title. */
  title: string;
  /** The topology, as every process will be configured for it. */
  redisTarget: RedisTarget;
  /** Picks the master to kill. */
  victim(system: ChaosSystem): Promise<FailoverVictim>;
  /** SIGKILLs the node on `port` and resolves once it exited. */
  kill(port: number): Promise<void>;
  /**
   * Resolves once the topology has failed over (another node serves what the victim served),
   * with a description of the new master(s); rejects past its own deadline.
   */
  waitForFailover(victim: number): Promise<string>;
  /** Text files of the corpus. @default {300} */
  files?: number;
  /** The corpus's seed (two runs index different text). @default {1} */
  seed?: number;
}

/** Event frames (snapshots aside) whose id is not above the previous event frame's. */
export function repeatedEventIds(
  frames: readonly Pick<EventFrame, "type" | "event_id">[],
): number[] {
  const repeated: number[] = [];
  let last = 0;
  for (const f of frames) {
    if (f.type === "OPERATION_SNAPSHOT") {
      last = Math.max(last, f.event_id);
      continue;
    }
    if (f.event_id <= last) repeated.push(f.event_id);
    last = Math.max(last, f.event_id);
  }
  return repeated;
}

export async function runFailoverChaos(options: FailoverChaosOptions): Promise<void> {
  const { files = 300, seed = 1 } = options;
  const startedAt = performance.now();
  const system = await startChaosSystem({
    vectorStore: "pgvector",
    workers: 2,
    redisTarget: options.redisTarget,
  });
  const followers: OperationFollower[] = [];
  try {
    // The clients follow on a second API process: it learns of the events only through Redis.
    const otherWs = await system.startOtherApi();
    const { expected, user, collectionId, opId, opStarted } = await startIndexing(system, {
      folder: "failover",
      name: "redis failover",
      files,
      seed,
    });
    // One client stays connected throughout; one keeps dropping and resuming with ?since=.
    followers.push(
      new OperationFollower({
        wsUrl: otherWs,
        token: user.token,
        operationId: opId,
        dropAfterMs: [600_000, 600_000],
      }),
      new OperationFollower({ wsUrl: otherWs, token: user.token, operationId: opId }),
    );

    await waitFor(
      "a quarter of the documents before the kill",
      async () => (await system.completedDocuments(collectionId)) >= files / 4,
      { timeoutMs: 180_000, intervalMs: 25 },
    );
    assert.ok(
      followers.every((f) => f.lastEventId > 0),
      "the clients on the second API process had events before the kill",
    );
    const victim = await options.victim(system);
    const idsBefore = Math.min(...followers.map((f) => f.lastEventId));
    await options.kill(victim.port);
    const killedAt = performance.now();
    const doneAtKill = await system.completedDocuments(collectionId);
    assert.ok(doneAtKill < files, `the operation was finished (${doneAtKill}) before the kill`);
    const promoted = await options.waitForFailover(victim.port);
    const failoverMs = performance.now() - killedAt;

    const done = await system.waitForOperation(opId);
    const opMs = performance.now() - opStarted;
    assert.equal(done.status, "completed", `${done.error_message}\n${system.dump()}`);
    const counts = await assertIndexedAsExpected(system, { collectionId, expected });
    const m = done.metadata as Record<string, number>;
    assert.equal(m.documents_processed, expected.documents.completed);
    assert.equal(m.chunks_created, expected.chunks);

    // A client whose terminal event was lost with the old master gets the terminal snapshot
    // when its watch re-reads the row (every ROW_CHECK_MS, then a 2 s grace); it reconnects
    // within 2 s of a close.
    const ended = followers.map(() => false);
    followers.forEach((f, i) => f.done.then(() => (ended[i] = true)));
    await waitFor(
      "every client on the second API process to get its terminal frame",
      () => ended.every(Boolean),
      {
        timeoutMs: ROW_CHECK_MS + 2000 + 2000 + WAIT_MS,
        seen: () => followers.map((f) => `last id ${f.lastEventId}`).join(", "),
      },
    );
    const summaries = await Promise.all(followers.map((f) => f.done));
    const last = await system.lastPublishedEvent(opId);
    assert.equal(last.type, "OPERATION_COMPLETED");
    const lastId = last.id;
    for (const [i, f] of followers.entries()) {
      const s = summaries[i]!;
      assert.deepEqual(s.violations, [], `follower ${i + 1} of ${opId}`);
      assert.deepEqual(repeatedEventIds(f.frames), [], `follower ${i + 1}: an event id twice`);
      assert.ok(
        s.final?.type === "OPERATION_COMPLETED" ||
          (s.final?.type === "OPERATION_SNAPSHOT" && s.final.status === "completed"),
        `follower ${i + 1} ended with ${JSON.stringify(s.final)}`,
      );
      assert.ok(s.lastEventId <= lastId, `follower ${i + 1} saw ${s.lastEventId} > ${lastId}`);
    }
    const after = followers[0]!.frames.filter((f) => f.event_id > idsBefore).length;
    assert.ok(
      after > 0,
      `no event above ${idsBefore} reached the steady client after the kill; last id ${lastId}; ` +
        `its frames: ${followers[0]!.frames.map((f) => `${f.event_id}:${f.type}`).join(" ")}`,
    );

    printResult(options.title, startedAt, [
      `killed the ${victim.why} (port ${victim.port}) at ${doneAtKill}/${files} documents; ` +
      `failed over to ${promoted} ${seconds(failoverMs)} after the kill`,
      `operation completed ${seconds(opMs)} after it was created (${done.attempts} attempt(s)), ` +
      `through API 1, followed on API 2`,
      `documents ${counts.documents.completed} completed + ${counts.documents.skipped} skipped, ` +
      `chunks ${counts.chunks}, points in pgvector ${counts.vectors} ` +
      `(expected ${expected.documents.completed} + ${expected.documents.skipped}, ` +
      `${expected.chunks}, ${expected.chunks}); no duplicate or stray point`,
      `event ids ${idsBefore} (before the kill) to ${lastId}; ${after} frames after the kill ` +
      `on the steady client; no event id delivered twice`,
      followersLine(summaries),
    ]);
  } catch (err) {
    console.error(
      `[chaos] ${options.title}: failed; the processes' last lines:\n${system.dump(400)}`,
    );
    throw err;
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
}
