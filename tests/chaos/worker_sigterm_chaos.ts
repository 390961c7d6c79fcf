/**
 * Chaos scenario 4: every worker gets SIGTERM while two operations run (a rolling deploy done
 * badly: all at once), and new workers start at the same moment; then again. Each old worker
 * lets its job run for the shutdown grace, stops the handler, hands the job back at the same
 * attempt and exits 0; a new worker carries on. Qdrant (the fake, behind a proxy) holds each
 * operation's upserts from when it reaches the round's share (just before the signal) until the
 * grace is over, so that no machine is fast enough to finish an operation within the grace (the
 * job would complete instead of being handed back). Nothing is
 * lost (exact counts) and nothing runs twice at once: no job is ever taken over on lease expiry
 * (the only way two workers could hold one), no handler is left running at exit, and each
 * operation's history shows its runs one after the other with progress never going back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROCESS_START_MS, waitFor } from "../../shared/testing/wait.ts";
import { type ChaosWorker, startChaosSystem } from "./chaos_system.ts";
import { expectedIndex, writeChaosCorpus } from "./chaos_corpus.ts";
import { OperationFollower } from "./operation_follower.ts";
import { followersLine, printResult, seconds } from "./chaos_report.ts";
import { assertOneRunAtATime } from "./run_segments.ts";

const FILES = 400;
const SHUTDOWN_S = 2;

Deno.test("chaos 4: SIGTERM every worker mid-operation and start new ones: nothing lost, nothing run twice at once", async () => {
  const startedAt = performance.now();
  const system = await startChaosSystem({
    vectorStore: "qdrant",
    workers: 2,
    shutdownTimeoutSeconds: SHUTDOWN_S,
  });
  const followers: OperationFollower[] = [];
  try {
    const user = await system.user();
    const dirs: string[] = [];
    for (const name of ["alpha", "beta"]) {
      const corpus = await writeChaosCorpus(join(system.docs, name), {
        files: FILES,
        seed: name.length * 7,
      });
      dirs.push(corpus.dir);
    }
    const expected = await Promise.all(
      dirs.map((dir) => expectedIndex(dir, { modelsDir: system.modelsDir })),
    );
    const ops: { name: string; collectionId: string; opId: string; dir: string }[] = [];
    for (const [i, name] of ["alpha", "beta"].entries()) {
      const created = await system.call("POST", "/api/v2/collections", {
        token: user.token,
        body: { name, source: { type: "directory", path: dirs[i]! } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ops.push({
        name,
        collectionId: created.body.collection.id,
        opId: created.body.operation.id,
        dir: dirs[i]!,
      });
    }
    const opStarted = performance.now();
    for (const op of ops) {
      for (let i = 0; i < 2; i++) {
        followers.push(
          new OperationFollower({ wsUrl: system.wsUrl, token: user.token, operationId: op.opId }),
        );
      }
    }

    const rounds: {
      at: number[];
      handoffMs: number;
      stopped: ChaosWorker[];
      heldUpserts: number;
    }[] = [];
    for (const fraction of [0.15, 0.5]) {
      // Both operations running, each on its own worker, each part done.
      const holders = await waitFor("both operations to be running", async () => {
        const hs = await Promise.all(ops.map((op) => system.holderOf(op.opId)));
        return hs.every((h) => h && h.exit === undefined) && hs[0] !== hs[1]
          ? hs as ChaosWorker[]
          : undefined;
      }, { timeoutMs: 180_000, intervalMs: 25 });
      // Each operation's upserts are held from when it reaches the fraction (Qdrant answers none
      // until the old workers' grace is over): however fast this machine embeds, and however far
      // one operation runs ahead of the other, neither can finish within the grace, and each job
      // is handed back (not completed by the worker told to stop).
      const proxy = system.qdrant!.proxy;
      const held = new Set<string>();
      let at: number[] = [];
      await waitFor(`${fraction * 100}% of each operation`, async () => {
        at = await Promise.all(ops.map((op) => system.completedDocuments(op.collectionId)));
        for (const [i, op] of ops.entries()) {
          if (at[i]! >= FILES * fraction && !held.has(op.collectionId)) {
            proxy.holdUpserts(`col_${op.collectionId.replaceAll("-", "")}`);
            held.add(op.collectionId);
          }
        }
        return held.size === ops.length;
      }, { timeoutMs: 180_000, intervalMs: 25 });
      let heldUpserts = 0;
      at = await Promise.all(ops.map((op) => system.completedDocuments(op.collectionId)));
      assert.ok(
        at.every((n) => n < FILES),
        `an operation finished before the SIGTERM (${at.join(", ")} of ${FILES} documents)`,
      );
      const stopped = system.liveWorkers;
      assert.deepEqual(new Set(stopped), new Set(holders));
      const sentAt = performance.now();
      for (const w of stopped) w.proc.child.kill("SIGTERM");
      // New workers start at once, while the old ones are still shutting down.
      const fresh = await Promise.all(stopped.map(() => system.startWorker()));
      try {
        await waitFor(
          "the old workers' shutdown grace to end",
          () =>
            stopped.every((w) =>
              w.exit !== undefined ||
              w.proc.lines.some((l) => l.includes("stopping running handlers"))
            ),
          {
            timeoutMs: SHUTDOWN_S * 1000 + PROCESS_START_MS,
            seen: () => stopped.map((w) => ({ name: w.name, tail: w.proc.lines.slice(-5) })),
          },
        );
        heldUpserts = proxy.held;
      } finally {
        proxy.releaseUpserts();
      }
      for (const w of stopped) {
        const status = await w.proc.status;
        assert.equal(status.code, 0, `${w.name} exit:\n${w.proc.lines.join("\n")}`);
        assert.ok(w.proc.lines.some((l) => l.includes("SIGTERM received; shutting down")));
        assert.ok(
          !w.proc.lines.some((l) => l.includes("handlers did not stop")),
          `${w.name} left a handler running:\n${w.proc.lines.join("\n")}`,
        );
      }
      try {
        // The old workers have exited, their jobs handed back, and the new ones read the stream
        // already: a read away (the same deadline as a process start, for a loaded machine).
        await waitFor("the new workers to hold both jobs", async () => {
          const hs = await Promise.all(ops.map((op) => system.holderOf(op.opId)));
          return hs.every((h) => h && fresh.includes(h));
        }, {
          timeoutMs: PROCESS_START_MS,
          intervalMs: 25,
          seen: async () => ({
            jobs: await Promise.all(ops.map(async (op) => {
              const job = await system.queues.getJob(op.opId);
              return { op: op.name, state: job?.state, consumer: job?.consumer };
            })),
            fresh: fresh.map((w) => ({ name: w.name, consumer: w.consumer, exit: w.exit })),
            documents: await Promise.all(
              ops.map((op) => system.completedDocuments(op.collectionId)),
            ),
          }),
        });
      } catch (err) {
        for (const w of [...stopped, ...fresh]) {
          console.error(`----- ${w.name} (${w.consumer}) output -----\n${w.proc.lines.join("\n")}`);
        }
        throw err;
      }
      rounds.push({ at, handoffMs: performance.now() - sentAt, stopped, heldUpserts });
    }

    const done = await Promise.all(ops.map((op) => system.waitForOperation(op.opId)));
    const opMs = performance.now() - opStarted;
    const lines: string[] = [];
    for (const [i, op] of ops.entries()) {
      const row = done[i]!;
      const exp = expected[i]!;
      assert.equal(row.status, "completed", `${row.error_message}\n${system.dump()}`);
      assert.equal(row.attempts, 1, "a handed-back job keeps its attempt");
      const counts = await system.counts(op.collectionId);
      assert.deepEqual(counts.documents, {
        completed: exp.documents.completed,
        skipped: exp.documents.skipped,
      });
      assert.equal(counts.chunks, exp.chunks);
      assert.equal(counts.chunkCountSum, exp.chunks);
      assert.equal(counts.vectors, exp.chunks);
      const { points, chunks } = await system.pointsAndChunks(op.collectionId);
      assert.deepEqual(points, chunks, "one point per chunk row, no strays, no duplicates");
      const m = row.metadata as Record<string, number>;
      assert.equal(m.documents_processed, exp.documents.completed);
      assert.equal(m.chunks_created, exp.chunks);
      lines.push(
        `${op.name}: completed, attempts 1; documents ${counts.documents.completed} + ` +
          `${counts.documents.skipped} skipped, chunks ${counts.chunks}, points ${counts.vectors} ` +
          `(expected ${exp.documents.completed} + ${exp.documents.skipped}, ${exp.chunks})`,
      );
    }
    const totals = (await system.queues.totals()).default!;
    assert.equal(totals.reclaimed, 0, "a job was taken over on lease expiry");
    assert.equal(totals.dead, 0);

    const summaries = await Promise.all(followers.map((f) => f.done));
    const runCounts: number[] = [];
    for (const op of ops) {
      // Not the row's event_seq: a progress write of a stopping worker can be refused as stale.
      const last = await system.lastPublishedEvent(op.opId);
      assert.equal(last.type, "OPERATION_COMPLETED");
      const lastId = last.id;
      const mine = followers.filter((f) => f.operationId === op.opId);
      for (const f of mine) {
        assert.deepEqual(f.violations, [], `follower of ${op.name}`);
        // Redis lost nothing here: every event it needed was retained, so no snapshot.
        assert.equal(f.summary.snapshots, 0);
        assert.equal(f.summary.final?.type, "OPERATION_COMPLETED");
        assert.equal(f.lastEventId, lastId);
      }
      const runs = assertOneRunAtATime(mine[0]!.frames);
      assert.deepEqual(runs.map((r) => r.start), ["Started", "Started", "Started"]);
      runCounts.push(runs.length);
    }

    printResult("4. SIGTERM every worker mid-operation, new ones started", startedAt, [
      ...rounds.map((r, i) =>
        `round ${i + 1}: SIGTERM to ${r.stopped.map((w) => w.name).join(" and ")} at ` +
        `${r.at.join(" and ")}/${FILES} documents; each exited 0 after handing its job back ` +
        `(shutdown grace ${SHUTDOWN_S} s, Qdrant holding upserts through it: ` +
        `${r.heldUpserts} waiting at its end); new workers held both jobs ` +
        `${seconds(r.handoffMs)} after the signal`
      ),
      `both operations completed ${seconds(opMs)} after creation: ` +
      `${runCounts.join(" and ")} handler runs, one after the other, progress never went back; ` +
      `lease takeovers 0, dead letters 0`,
      ...lines,
      followersLine(summaries),
    ]);
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    await system.close();
  }
});
