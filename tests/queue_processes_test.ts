/**
 * The queue across real worker processes (tests/procs/queue_worker.ts): a worker killed with
 * SIGKILL mid-job, a worker paused past its lease (SIGSTOP), and SIGTERM during work.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { withTestRedis } from "../shared/testing/redis.ts";
import { Queue } from "../shared/queue/queue.ts";
import { waitFor } from "../shared/queue/_test_helpers.ts";
import { workTask } from "./procs/work_task.ts";
import { WorkerProcesses } from "./procs/worker_process.ts";

interface Ctx {
  q: Queue;
  redis: Redis;
  procs: WorkerProcesses;
  /** A test key (as the handler writes them). */
  k: (...parts: string[]) => string;
}

async function withProcesses(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  await withTestRedis(async (t) => {
    const procs = new WorkerProcesses({ TEST_REDIS_URL: t.url, TEST_PREFIX: t.prefix });
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    try {
      await fn({ q, redis: t.redis, procs, k: (...p) => `${t.prefix}t:${p.join(":")}` });
    } catch (err) {
      console.error(procs.dump());
      throw err;
    } finally {
      await procs.destroyAll();
    }
  });
}

/** Which process (pid) started each attempt of `jobId`. */
async function starts(ctx: Ctx, jobId: string): Promise<{ attempt: number; pid: number }[]> {
  const all = await ctx.redis.lrange(ctx.k("started"), 0, -1);
  return all.map((s) => s.split("|")).filter(([id]) => id === jobId).map(([, a, pid]) => ({
    attempt: Number(a),
    pid: Number(pid),
  }));
}

/** A killed (or exited) process runs no handler any more: take it out of the overlap check. */
async function gone(ctx: Ctx, pid: number, ids: string[]): Promise<void> {
  for (const id of ids) await ctx.redis.srem(ctx.k("running", id), pid);
}

async function assertAllDone(ctx: Ctx, ids: string[]): Promise<void> {
  // The effect is written before the ack: wait for the acks too.
  await waitFor("the queue to drain", async () => {
    const d = await ctx.q.depth();
    return d.waiting + d.active + d.delayed === 0;
  });
  for (const id of ids) {
    assert.ok(await ctx.redis.get(ctx.k("effect", id)), `job ${id} has its effect`);
    assert.equal(await ctx.q.getJobState(id), null, `job ${id} is complete`);
    assert.equal(
      await ctx.redis.get(ctx.k("overlap", id)),
      null,
      `job ${id} never ran twice at once`,
    );
  }
  assert.equal(
    Number(await ctx.redis.get(ctx.k("effects"))),
    ids.length,
    "each effect applied once",
  );
  assert.deepEqual(await ctx.q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
}

Deno.test("a job whose worker process is killed with SIGKILL mid-job is completed by another; none is lost", async () => {
  await withProcesses(async (ctx) => {
    const a = await ctx.procs.start("a", { CONCURRENCY: "2" });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await ctx.q.enqueue(workTask, { ms: 400 }, { jobId: `k${i}` })).jobId);
    }
    const victim = await waitFor("a to be mid-job", async () => {
      const s = await ctx.redis.lrange(ctx.k("started"), 0, -1);
      const mine = s.find((x) => x.endsWith(`|${a.pid}`));
      return mine?.split("|")[0];
    });
    a.kill("SIGKILL");
    assert.equal((await a.status).signal, "SIGKILL");
    await gone(ctx, a.pid, ids);
    const b = await ctx.procs.start("b", { CONCURRENCY: "2" });
    await waitFor(
      "every job to complete",
      async () => Number(await ctx.redis.get(ctx.k("effects"))) === 6,
    );
    await waitFor("the queue to drain", async () => (await ctx.q.depth()).active === 0);
    await assertAllDone(ctx, ids);
    const victimStarts = await starts(ctx, victim);
    assert.ok(victimStarts.some((s) => s.pid === a.pid), "a started the victim");
    const rerun = victimStarts.find((s) => s.pid === b.pid);
    assert.ok(rerun, "b ran the victim again");
    assert.ok(rerun.attempt >= 2, "the lost delivery counted as an attempt");
  });
});

Deno.test("a paused worker loses its lease: the job completes elsewhere and the first handler is aborted", async () => {
  await withProcesses(async (ctx) => {
    // a would work for a minute; b caps the work at 100 ms.
    const a = await ctx.procs.start("a", { LEASE_MS: "1000", HEARTBEAT_MS: "150" });
    await ctx.q.enqueue(workTask, { ms: 60_000 }, { jobId: "paused" });
    await waitFor("a to start the job", async () => (await starts(ctx, "paused")).length === 1);
    const b = await ctx.procs.start("b", { MAX_WORK_MS: "100", RECLAIM_MS: "100" });
    a.kill("SIGSTOP");
    await waitFor(
      "b to complete the job",
      async () => (await ctx.q.getJobState("paused")) === null,
    );
    assert.ok(await ctx.redis.get(ctx.k("effect", "paused")));

    a.kill("SIGCONT");
    const aborted = await waitFor("a's handler to be aborted", async () => {
      const list = await ctx.redis.lrange(ctx.k("aborted"), 0, -1);
      return list.find((x) => x.startsWith(`paused|1|${a.pid}|`));
    });
    assert.ok(aborted.endsWith("|LeaseLostError"), aborted);
    const s = await starts(ctx, "paused");
    assert.deepEqual(s.map((x) => x.pid), [a.pid, b.pid]);
    assert.equal(s[1]!.attempt, 2);
    assert.equal(await ctx.redis.get(ctx.k("effect", "paused")), `paused|2|${b.pid}`);
    assert.equal(Number(await ctx.redis.get(ctx.k("effects"))), 1);
    assert.equal(await ctx.redis.lrange(ctx.k("finished"), 0, -1).then((l) => l.length), 1);
  });
});

Deno.test("SIGTERM during work: running jobs finish or go back, the worker exits 0, nothing is lost or doubled", async () => {
  await withProcesses(async (ctx) => {
    const a = await ctx.procs.start("a", { CONCURRENCY: "2", SHUTDOWN_MS: "1000" });
    // One job that finishes within the grace, one that does not, and some not yet started.
    await ctx.q.enqueue(workTask, { ms: 300 }, { jobId: "short" });
    await ctx.q.enqueue(workTask, { ms: 60_000 }, { jobId: "long" });
    for (let i = 0; i < 3; i++) await ctx.q.enqueue(workTask, { ms: 50 }, { jobId: `w${i}` });
    await waitFor(
      "both to run",
      async () =>
        (await starts(ctx, "short")).length === 1 && (await starts(ctx, "long")).length === 1,
    );
    a.kill("SIGTERM");
    const status = await a.status;
    assert.equal(status.code, 0, a.output);
    assert.ok(await ctx.redis.get(ctx.k("effect", "short")), "the short job finished in the grace");
    const long = await ctx.q.getJob("long");
    assert.equal(long?.state, "waiting", "the long job went back to the stream");
    assert.equal(long?.attempts, 1, "the shutdown cost it no attempt");
    for (let i = 0; i < 3; i++) assert.equal(await ctx.q.getJobState(`w${i}`), "waiting");

    await ctx.procs.start("b", { MAX_WORK_MS: "100" });
    await waitFor(
      "every job to complete",
      async () => Number(await ctx.redis.get(ctx.k("effects"))) === 5,
    );
    await assertAllDone(ctx, ["short", "long", "w0", "w1", "w2"]);
  });
});

Deno.test("SIGTERM with a handler that ignores its signal: the job stays pending and is reclaimed after the worker exits", async () => {
  await withProcesses(async (ctx) => {
    const a = await ctx.procs.start("a", {
      SHUTDOWN_MS: "300",
      ABORT_GRACE_MS: "200",
      IGNORE_ABORT: "1",
      LEASE_MS: "1000",
    });
    await ctx.q.enqueue(workTask, { ms: 60_000 }, { jobId: "stubborn" });
    await waitFor("a to run it", async () => (await starts(ctx, "stubborn")).length === 1);
    a.kill("SIGTERM");
    assert.equal((await a.status).code, 0, a.output);
    const j = await ctx.q.getJob("stubborn");
    assert.equal(j?.state, "active", "still pending on the exited worker's consumer");
    await gone(ctx, a.pid, ["stubborn"]);
    const b = await ctx.procs.start("b", { MAX_WORK_MS: "50" });
    await waitFor("b to complete it", async () => (await ctx.q.getJobState("stubborn")) === null);
    const s = await starts(ctx, "stubborn");
    assert.deepEqual(s.map((x) => x.pid), [a.pid, b.pid]);
    await assertAllDone(ctx, ["stubborn"]);
  });
});

Deno.test("jobs a worker read ahead (prefetch) are taken over by another when it is killed with SIGKILL", async () => {
  await withProcesses(async (ctx) => {
    const a = await ctx.procs.start("a", { CONCURRENCY: "1", PREFETCH: "3", LEASE_MS: "1000" });
    await ctx.q.enqueue(workTask, { ms: 60_000 }, { jobId: "long" });
    await waitFor("a to start the long job", async () => (await starts(ctx, "long")).length === 1);
    const ids = ["p0", "p1", "p2"];
    for (const id of ids) await ctx.q.enqueue(workTask, { ms: 20 }, { jobId: id });
    // Read ahead: delivered to a (active, not waiting) while its one slot runs the long job.
    await waitFor("a to hold the three", async () => {
      const d = await ctx.q.depth();
      return d.active === 4 && d.waiting === 0;
    });
    a.kill("SIGKILL");
    assert.equal((await a.status).signal, "SIGKILL");
    await gone(ctx, a.pid, ["long", ...ids]);
    const b = await ctx.procs.start("b", { CONCURRENCY: "1", MAX_WORK_MS: "20" });
    await waitFor(
      "b to complete all four",
      async () => Number(await ctx.redis.get(ctx.k("effects"))) === 4,
    );
    await assertAllDone(ctx, ["long", ...ids]);
    for (const id of ids) {
      const s = await starts(ctx, id);
      assert.equal(s.length, 1, `${id} started once: ${JSON.stringify(s)}`);
      assert.equal(s[0]!.pid, b.pid, `${id} ran on b`);
      assert.equal(s[0]!.attempt, 2, `${id}: the lost delivery counted as an attempt`);
    }
  });
});
