/**
 * Prefetch (`prefetch`): jobs read ahead beyond the free slots wait in the worker's buffer, held
 * like running ones. Their leases are renewed, close hands them back to the stream, a lost lease
 * drops them unstarted, and abortJob starts them at once with their signal fired. (A buffered job of a killed worker
 * is taken over after its lease: tests/queue_processes_test.ts.)
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { Redis } from "ioredis";
import { withTestRedis } from "../testing/redis.ts";
import { Queue } from "./queue.ts";
import {
  AUTO_READ_AHEAD_MAX,
  AUTO_READ_AHEAD_STALL_MS,
  AUTO_READ_AHEAD_WAIT_MS,
  type QueueWorker,
  taskHandler,
} from "./queue_worker.ts";
import { defineTask } from "./task.ts";
import { FAST, waitFor, WorkerPool } from "./_test_helpers.ts";

const gated = defineTask("test.gated", z.object({ n: z.number().int() }));

interface Ctx {
  q: Queue;
  pool: WorkerPool;
  redis: Redis;
  prefix: string;
}

function setup(fn: (ctx: Ctx) => Promise<void>) {
  return withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const pool = new WorkerPool(t);
    try {
      await fn({ q, pool, redis: t.redis, prefix: t.prefix });
    } finally {
      await pool.closeAll();
    }
  });
}

/** A handler that records which worker started which job and waits on `gate` for job 0. */
function recorder(name: string, starts: string[], gate: Promise<void>) {
  return taskHandler(gated, async (p, job) => {
    starts.push(`${name}:${job.id}:${job.attempt}`);
    // As an operation's handler does: a job cancelled before it started stops at once.
    if (job.signal.aborted) throw job.signal.reason;
    if (p.n === 0) {
      await Promise.race([
        gate,
        new Promise<void>((resolve) => job.signal.addEventListener("abort", () => resolve())),
      ]);
    }
  });
}

/** The consumer each pending entry of the stream is delivered to, by job id. */
async function pendingOwners(ctx: Ctx): Promise<Map<string, string>> {
  const stream = `${ctx.prefix}{q:default}:stream`;
  const pending = await ctx.redis.xpending(stream, "workers", "-", "+", 100) as [
    string,
    string,
    number,
    number,
  ][];
  const owners = new Map<string, string>();
  for (const [entryId, consumer] of pending) {
    const e = await ctx.redis.xrange(stream, entryId, entryId);
    const f = e[0]?.[1] ?? [];
    owners.set(f[f.indexOf("id") + 1] ?? entryId, consumer);
  }
  return owners;
}

Deno.test("a buffered job's lease is renewed: another worker does not take it while it waits", async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    const a = await ctx.pool.start([recorder("a", starts, gate.promise)], {
      concurrency: 1,
      prefetch: 2,
    });
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await waitFor("a to run j0", () => starts.includes("a:j0:1"), { seen: () => starts });
    await ctx.q.enqueue(gated, { n: 1 }, { jobId: "j1" });
    await ctx.q.enqueue(gated, { n: 2 }, { jobId: "j2" });
    await waitFor("a to buffer j1 and j2", () => a.bufferedCount === 2, {
      seen: () => a.bufferedCount,
    });
    // b scans for expired leases every 200 ms: an unrenewed buffered entry is its after 800 ms.
    const b = await ctx.pool.start([recorder("b", starts, gate.promise)], { concurrency: 1 });
    await new Promise((r) => setTimeout(r, 3 * FAST.leaseMs!));
    assert.deepEqual(starts, ["a:j0:1"], "nothing started but j0, and nothing on b");
    assert.equal(b.counters.get("reclaimed"), 0);
    const owners = await pendingOwners(ctx);
    assert.equal(owners.get("j1"), a.consumer);
    assert.equal(owners.get("j2"), a.consumer);
    gate.resolve();
    await waitFor("a to complete all three", () => a.counters.get("completed") === 3, {
      seen: () => starts,
    });
    assert.deepEqual(starts, ["a:j0:1", "a:j1:1", "a:j2:1"], "in stream order, once each");
  });
});

Deno.test("close hands buffered jobs back at once: another worker runs them long before their lease ends", async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    // A lease far longer than the wait below: only a hand-back lets b run them in time.
    const slow = { leaseMs: 60_000, heartbeatMs: 20_000, reclaimIntervalMs: 30_000 };
    const a = await ctx.pool.start([recorder("a", starts, gate.promise)], {
      ...slow,
      concurrency: 1,
      prefetch: 3,
    });
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await waitFor("a to run j0", () => starts.includes("a:j0:1"), { seen: () => starts });
    for (let n = 1; n <= 3; n++) await ctx.q.enqueue(gated, { n }, { jobId: `j${n}` });
    await waitFor("a to buffer three", () => a.bufferedCount === 3, {
      seen: () => a.bufferedCount,
    });
    const b = await ctx.pool.start([recorder("b", starts, gate.promise)], {
      ...slow,
      concurrency: 1,
    });
    const closed = a.close();
    await waitFor("b to complete the buffered jobs", () => b.counters.get("completed") === 3, {
      seen: () => starts,
    });
    gate.resolve();
    await closed;
    assert.equal(a.counters.get("completed"), 1, "a finished the job it ran");
    assert.deepEqual(
      starts.filter((s) => s.startsWith("b:")).sort(),
      ["b:j1:1", "b:j2:1", "b:j3:1"],
      "b ran each buffered job, at the same attempt",
    );
    assert.ok(!starts.some((s) => /^a:j[123]/.test(s)), `a started no buffered job: ${starts}`);
    assert.deepEqual(await ctx.q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
  });
});

Deno.test("a buffered job that is force-removed never starts; one aborted starts at once with its signal fired", async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    const a = await ctx.pool.start([recorder("a", starts, gate.promise)], {
      concurrency: 1,
      prefetch: 3,
    });
    const aborted: string[] = [];
    a.events.on("aborted", (e) => aborted.push(e.job.id));
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await waitFor("a to run j0", () => starts.includes("a:j0:1"), { seen: () => starts });
    for (let n = 1; n <= 3; n++) await ctx.q.enqueue(gated, { n }, { jobId: `j${n}` });
    await waitFor("a to buffer three", () => a.bufferedCount === 3, {
      seen: () => a.bufferedCount,
    });
    // A buffered job counts as active, as a running one: removal needs force.
    assert.deepEqual(await ctx.q.removeJob("j1"), { removed: false, state: "active" });
    assert.equal((await ctx.q.removeJob("j1", { force: true })).removed, true);
    await waitFor("a to drop j1 at its next renewal", () => a.bufferedCount === 2, {
      seen: () => a.bufferedCount,
    });
    assert.equal(a.counters.get("leaseLost"), 1);
    assert.equal(a.abortJob("j2", "cancelled"), true);
    await waitFor("j2 to be removed", async () => (await ctx.q.getJobState("j2")) === null);
    await waitFor("the aborted event", () => aborted.includes("j2"), { seen: () => aborted });
    gate.resolve();
    await waitFor("j0 and j3 to complete", () => a.counters.get("completed") === 2, {
      seen: () => starts,
    });
    assert.deepEqual(starts, ["a:j0:1", "a:j2:1", "a:j3:1"], "j1 never started, j2 at its abort");
    assert.deepEqual(await ctx.q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
  });
});

// ---- prefetch: "auto" (the default) ----------------------------------------------------------

/** Runs `count` jobs that do not wait on a gate (n >= 1000) on `w` and waits for them. */
async function runUngated(ctx: Ctx, w: QueueWorker, count: number) {
  const before = w.counters.get("completed");
  for (let i = 0; i < count; i++) await ctx.q.enqueue(gated, { n: 1000 + i });
  await waitFor(
    `${count} ungated jobs to complete`,
    () => w.counters.get("completed") === before + count,
    { seen: () => w.counters.get("completed") - before },
  );
}

Deno.test('prefetch "auto" reads none ahead before a handler ran, nor for handlers of AUTO_READ_AHEAD_WAIT_MS or more', async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    const a = await ctx.pool.start([
      taskHandler(gated, async (p, job) => {
        starts.push(`a:${job.id}`);
        if (p.n === 0) await gate.promise;
        // Each non-gated job takes 5x the wait budget: none should wait behind another.
        else await new Promise((r) => setTimeout(r, 5 * AUTO_READ_AHEAD_WAIT_MS));
      }),
    ], { concurrency: 1 });
    assert.equal(a.prefetch, "auto", "auto is the default");
    assert.equal(a.readAhead, 0, "nothing measured yet: none read ahead");
    await runUngated(ctx, a, 3);
    assert.equal(a.readAhead, 0, "handlers of 5x the budget: none read ahead");
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await waitFor("a to run j0", () => starts.includes("a:j0"), { seen: () => starts });
    await ctx.q.enqueue(gated, { n: 1 }, { jobId: "j1" });
    // A second worker takes j1 while a runs j0: a did not hold it.
    const b = await ctx.pool.start([taskHandler(gated, () => {})], { concurrency: 1 });
    await waitFor("b to complete j1", () => b.counters.get("completed") === 1, {
      seen: () => ({ aBuffered: a.bufferedCount, starts }),
    });
    assert.equal(a.bufferedCount, 0);
    gate.resolve();
  });
});

Deno.test('prefetch "auto" reads ahead for short handlers, as many as start within the wait budget, at most AUTO_READ_AHEAD_MAX', async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    const a = await ctx.pool.start([recorder("a", starts, gate.promise)], { concurrency: 2 });
    // Handlers that return at once take well under the budget.
    await runUngated(ctx, a, 5);
    assert.ok(a.readAhead > 0, `short handlers: read ahead, got ${a.readAhead}`);
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0b" });
    await waitFor("a to run both gated jobs", () => a.runningCount === 2, { seen: () => starts });
    for (let n = 1; n <= 3; n++) await ctx.q.enqueue(gated, { n }, { jobId: `j${n}` });
    await waitFor("a to buffer three", () => a.bufferedCount === 3, {
      seen: () => a.bufferedCount,
    });
    gate.resolve();
    await waitFor("all to complete", () => a.counters.get("completed") === 10, {
      seen: () => starts,
    });
    assert.deepEqual(starts.slice(-3), ["a:j1:1", "a:j2:1", "a:j3:1"], "in stream order");
    assert.equal(a.counters.get("handedBack"), 0);
  });
});

Deno.test('prefetch "auto" hands the buffer back when a handler runs past AUTO_READ_AHEAD_STALL_MS, and reads ahead again once it ended', async () => {
  await setup(async (ctx) => {
    const starts: string[] = [];
    const gate = Promise.withResolvers<void>();
    // A lease far longer than the test: jobs only come back to the stream by the hand-back.
    const a = await ctx.pool.start([recorder("a", starts, gate.promise)], {
      leaseMs: 60_000,
      heartbeatMs: 20_000,
      reclaimIntervalMs: 30_000,
      concurrency: 1,
    });
    await runUngated(ctx, a, 5);
    assert.ok(a.readAhead > 0, `short handlers: read ahead, got ${a.readAhead}`);
    await ctx.q.enqueue(gated, { n: 0 }, { jobId: "j0" });
    await waitFor("a to run j0", () => starts.includes("a:j0:1"), { seen: () => starts });
    const started = performance.now();
    await ctx.q.enqueue(gated, { n: 1 }, { jobId: "j1" });
    await ctx.q.enqueue(gated, { n: 2 }, { jobId: "j2" });
    await waitFor("a to hand j1 and j2 back", () => a.counters.get("handedBack") >= 2, {
      seen: () => ({ buffered: a.bufferedCount, handedBack: a.counters.get("handedBack") }),
    });
    assert.ok(
      performance.now() - started >= AUTO_READ_AHEAD_STALL_MS,
      "not before the oldest had waited the stall time",
    );
    assert.equal(a.readAhead, 0, "none read ahead while the long handler runs");
    // They stay in the stream while the long handler runs: a read under way at the hand-back
    // that brings them back hands them back at once, it does not buffer them again.
    let maxBuffered = 0;
    const watchUntil = performance.now() + 5 * AUTO_READ_AHEAD_STALL_MS;
    while (performance.now() < watchUntil) {
      maxBuffered = Math.max(maxBuffered, a.bufferedCount);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(maxBuffered, 0, "buffered again after the hand-back");
    assert.ok(a.counters.get("handedBack") <= 4, `handed back ${a.counters.get("handedBack")}`);
    assert.equal((await ctx.q.depth()).waiting, 2, "both in the stream, unstarted");
    assert.ok(!starts.includes("a:j1:1") && !starts.includes("a:j2:1"), `${starts}`);
    gate.resolve();
    await waitFor("j0, j1, j2 to complete", () => a.counters.get("completed") === 8, {
      seen: () => starts,
    });
    assert.deepEqual(starts.slice(-2), ["a:j1:1", "a:j2:1"], "handed back at the same attempt");
    // The long handler's time weighs in the average until enough short ones follow it.
    await runUngated(ctx, a, 40);
    assert.ok(a.readAhead > 0, `reads ahead again, got ${a.readAhead}`);
  });
});

Deno.test('prefetch "auto" reads at most AUTO_READ_AHEAD_MAX ahead', async () => {
  await setup(async (ctx) => {
    // 64 slots and handlers under 4 ms: the budget alone would allow 64 x 2 / 4 = 32 or more.
    const a = await ctx.pool.start([taskHandler(gated, () => {})], { concurrency: 64 });
    await runUngated(ctx, a, 10);
    assert.equal(a.readAhead, AUTO_READ_AHEAD_MAX);
  });
});
