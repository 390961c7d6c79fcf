import assert from "node:assert/strict";
import { z } from "zod";
import { RetryLaterError } from "../errors.ts";
import { deleteByPrefix, withTestRedis } from "../testing/redis.ts";
import { JobAbortedError, LeaseLostError, WorkerClosingError } from "./job.ts";
import { Queue } from "./queue.ts";
import { type JobRef, QueueWorker, taskHandler } from "./queue_worker.ts";
import { defineTask } from "./task.ts";
import { FAST, waitFor, WorkerPool } from "./_test_helpers.ts";
import { type LogFields, Logger } from "../log/logger.ts";

const echo = defineTask("test.echo", z.object({ n: z.number().int() }));
const flaky = defineTask("test.flaky", z.object({ key: z.string() }), {
  maxAttempts: 3,
  backoff: { delayMs: 20, jitter: 0 },
});
const slow = defineTask("test.slow", z.object({ ms: z.number() }));

function setup(
  fn: (ctx: { q: Queue; pool: WorkerPool; redis: import("ioredis").Redis }) => Promise<void>,
) {
  return withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const pool = new WorkerPool(t);
    try {
      await fn({ q, pool, redis: t.redis });
    } finally {
      await pool.closeAll();
    }
  });
}

/** Resolves after `ms` or when `signal` fires, rejecting with the signal's reason then. */
function work(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

Deno.test("a worker runs jobs with the validated payload and reports results after the ack", async () => {
  await setup(async ({ q, pool }) => {
    const seen: { n: number; attempt: number; max: number; meta: unknown }[] = [];
    const w = await pool.start([
      taskHandler(echo, (p, job) => {
        seen.push({ n: p.n, attempt: job.attempt, max: job.maxAttempts, meta: job.meta });
        return { double: p.n * 2 };
      }),
    ], { concurrency: 3 });
    const results = new Map<string, unknown>();
    w.events.on("completed", (e) => results.set(e.job.id, e.result));
    for (let i = 0; i < 10; i++) {
      await q.enqueue(echo, { n: i }, { jobId: `j${i}`, meta: { replyTo: `r${i}` } });
    }
    await waitFor("10 completions", () => results.size === 10, {
      seen: async () => ({
        completed: [...results.keys()],
        started: w.counters.get("started"),
        depth: await q.depth(),
      }),
    });
    assert.deepEqual(results.get("j7"), { double: 14 });
    assert.equal(seen.length, 10);
    assert.deepEqual(seen.find((s) => s.n === 3), {
      n: 3,
      attempt: 1,
      max: 3,
      meta: { replyTo: "r3" },
    });
    assert.deepEqual(await q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
    assert.equal(await q.getJobState("j1"), null, "completed jobs are removed");
    assert.equal(w.counters.get("completed"), 10);
    assert.equal(w.counters.get("started"), 10);
    assert.equal((await q.totals()).completed, 10);
  });
});

Deno.test("run() refuses to run twice and after close; close() returns one promise", async () => {
  await withTestRedis(async (t) => {
    const w = new QueueWorker("default", [], { ...FAST, redisUrl: t.target, prefix: t.prefix });
    const running = w.run();
    await assert.rejects(() => w.run(), /already running/);
    await w.waitUntilReady();
    const c1 = w.close();
    const c2 = w.close(true);
    assert.equal(c1, c2);
    await c1;
    await running;
    await assert.rejects(() => w.run(), /was closed/);
  });
});

Deno.test("QueueWorker refuses bad options with a message naming the value", () => {
  assert.throws(
    () => new QueueWorker("default", [], { concurrency: 0 }),
    /concurrency must be a positive integer, got 0/,
  );
  assert.throws(
    () => new QueueWorker("default", [], { leaseMs: 100, heartbeatMs: 100 }),
    /heartbeatMs must be shorter/,
  );
  assert.throws(
    () => new QueueWorker("embed", [taskHandler(echo, () => {})]),
    /runs on queue default/,
  );
});

Deno.test("retries follow the backoff order and no retry runs before it is due", async () => {
  await setup(async ({ q, pool }) => {
    const task = defineTask("test.fails", z.object({}), {
      maxAttempts: 4,
      backoff: { delayMs: 60, jitter: 0.5 },
    });
    const starts: { attempt: number; at: number }[] = [];
    const w = await pool.start([
      taskHandler(task, (_p, job) => {
        starts.push({ attempt: job.attempt, at: Date.now() });
        throw new Error(`boom ${job.attempt}`);
      }),
    ]);
    const failures: { attempt: number; delayMs?: number; dueAt?: number; willRetry: boolean }[] =
      [];
    w.events.on(
      "failed",
      (e) =>
        failures.push({
          attempt: e.job.attempt,
          delayMs: e.delayMs,
          dueAt: e.dueAt,
          willRetry: e.willRetry,
        }),
    );
    await q.enqueue(task, {}, { jobId: "f1" });
    await waitFor("four failures", () => failures.length === 4);
    assert.equal(await q.getJobState("f1"), "dead");
    assert.deepEqual(starts.map((s) => s.attempt), [1, 2, 3, 4]);
    assert.deepEqual(failures.map((f) => f.willRetry), [true, true, true, false]);
    const delays = failures.slice(0, 3).map((f) => f.delayMs!);
    // Exponential from 60 ms with at most half taken off by jitter: each in [d/2, d], growing.
    [60, 120, 240].forEach((d, i) =>
      assert.ok(delays[i]! >= d / 2 && delays[i]! <= d, String(delays))
    );
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, String(delays));
    for (let i = 1; i < starts.length; i++) {
      const due = failures[i - 1]!.dueAt!;
      assert.ok(starts[i]!.at >= due, `attempt ${i + 1} started ${due - starts[i]!.at} ms early`);
    }
  });
});

Deno.test("a delayed job does not run before it is due", async () => {
  await setup(async ({ q, pool }) => {
    let startedAt = 0;
    let enqueuedAt = 0;
    await pool.start([
      taskHandler(echo, (_p, job) => {
        startedAt = Date.now();
        enqueuedAt = job.enqueuedAt;
      }),
    ]);
    await q.enqueue(echo, { n: 1 }, { jobId: "d1", delayMs: 400 });
    assert.equal(await q.getJobState("d1"), "delayed");
    await waitFor("the delayed job to run", () => startedAt > 0);
    assert.ok(startedAt >= enqueuedAt + 400, `ran ${enqueuedAt + 400 - startedAt} ms early`);
  });
});

Deno.test("a job that always throws ends in the dead letters with its error; the worker keeps serving; requeue runs it again", async () => {
  await setup(async ({ q, pool }) => {
    let broken = true;
    const deadCalls: { payload: unknown; error: string }[] = [];
    const failedCalls: (number | undefined)[] = [];
    const completedCalls: unknown[] = [];
    const done: number[] = [];
    const w = await pool.start([
      taskHandler(flaky, (p) => {
        if (broken) throw new Error(`cannot process ${p.key}`);
        return "fixed";
      }, {
        onDead: (payload, _job, error) => {
          deadCalls.push({ payload, error: error.message });
        },
        onFailed: (_error, _job, retry) => void failedCalls.push(retry?.delayMs),
        onCompleted: (result) => void completedCalls.push(result),
      }),
      taskHandler(echo, (p) => {
        done.push(p.n);
      }),
    ], { concurrency: 2 });
    const completed: string[] = [];
    w.events.on("completed", (e) => completed.push(e.job.id));
    await q.enqueue(flaky, { key: "x" }, { jobId: "poison", meta: { op: "o1" } });
    for (let i = 0; i < 5; i++) await q.enqueue(echo, { n: i });
    await waitFor("the poison job to die", async () => (await q.getJobState("poison")) === "dead");
    await waitFor("the other jobs", () => done.length === 5);

    const letters = await q.listDeadLetters();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.id, "poison");
    assert.equal(letters[0]!.name, "test.flaky");
    assert.equal(letters[0]!.attempts, 3);
    assert.equal(letters[0]!.error, "cannot process x");
    assert.deepEqual(letters[0]!.meta, { op: "o1" });
    const info = await q.getJob("poison");
    assert.equal(info?.error, "cannot process x");
    await waitFor("onDead", () => deadCalls.length === 1);
    assert.deepEqual(deadCalls[0], { payload: { key: "x" }, error: "cannot process x" });
    assert.equal(w.counters.get("dead"), 1);
    assert.equal(w.counters.get("failed"), 3);
    assert.equal(w.counters.get("retried"), 2);

    // A dead job still exists: the same id is not enqueued again.
    assert.equal((await q.enqueue(flaky, { key: "x" }, { jobId: "poison" })).created, false);

    broken = false;
    assert.equal(await q.requeueDeadLetter("poison"), true);
    assert.equal(await q.requeueDeadLetter("poison"), false, "no longer dead");
    await waitFor("the requeued job", () => completed.includes("poison"));
    await waitFor("onCompleted", () => completedCalls.length === 1);
    assert.deepEqual(completedCalls, ["fixed"]);
    assert.deepEqual(failedCalls, [20, 40, undefined], "two retries after backoff, then dead");
    assert.deepEqual(await q.listDeadLetters(), []);
    assert.equal(await q.getJobState("poison"), null);
  });
});

Deno.test("an invalid payload goes straight to the dead letters", async () => {
  await setup(async ({ q, pool }) => {
    let ran = false;
    await pool.start([taskHandler(echo, () => void (ran = true))]);
    await q.add("test.echo", { n: "not a number" }, { jobId: "bad" });
    await waitFor("the bad job to die", async () => (await q.getJobState("bad")) === "dead");
    const [letter] = await q.listDeadLetters();
    assert.match(letter!.error, /Invalid payload for task test\.echo: n:/);
    assert.equal(letter!.attempts, 1);
    assert.equal(ran, false);
  });
});

Deno.test("RetryLaterError postpones without spending an attempt, up to maxPostpones", async () => {
  await setup(async ({ q, pool }) => {
    const task = defineTask("test.later", z.object({}), {
      maxAttempts: 2,
      backoff: { delayMs: 10 },
    });
    const seen: { attempt: number; postpones: number }[] = [];
    const w = await pool.start([
      taskHandler(task, (_p, job) => {
        seen.push({ attempt: job.attempt, postpones: job.postpones });
        throw new RetryLaterError("GPU memory short", 20);
      }),
    ], { maxPostpones: 3 });
    const postponed: number[] = [];
    w.events.on("postponed", (e) => postponed.push(e.delayMs));
    await q.enqueue(task, {}, { jobId: "p1" });
    await waitFor("the job to die", async () => (await q.getJobState("p1")) === "dead");
    // Three postponements keep attempt 1; the fourth counts as a failure (attempt 1 fails);
    // attempt 2 has no postponements left either and fails for good.
    assert.deepEqual(seen, [
      { attempt: 1, postpones: 0 },
      { attempt: 1, postpones: 1 },
      { attempt: 1, postpones: 2 },
      { attempt: 1, postpones: 3 },
      { attempt: 2, postpones: 3 },
    ]);
    assert.deepEqual(postponed, [20, 20, 20]);
    assert.equal((await q.listDeadLetters())[0]?.error, "GPU memory short");
  });
});

Deno.test("a job longer than the lease is not taken from a live worker", async () => {
  await setup(async ({ q, pool }) => {
    const runs: string[] = [];
    const handler = (who: string) =>
      taskHandler(slow, async (p, job) => {
        runs.push(who);
        await work(p.ms, job.signal);
      });
    const a = await pool.start([handler("a")], { leaseMs: 1200, heartbeatMs: 100 });
    await q.enqueue(slow, { ms: 2500 }, { jobId: "long" });
    await waitFor("a to start the job", () => runs.length === 1);
    const b = await pool.start([handler("b")], {
      leaseMs: 1200,
      heartbeatMs: 100,
      reclaimIntervalMs: 50,
    });
    const done = a.events.once("completed");
    await done;
    assert.deepEqual(runs, ["a"]);
    assert.equal(a.counters.get("leaseLost"), 0);
    assert.equal(b.counters.get("reclaimed"), 0);
  });
});

Deno.test("a worker whose lease is taken aborts its handler and leaves the job to the new owner", async () => {
  await setup(async ({ q, pool, redis }) => {
    let aborted: unknown;
    const a = await pool.start([
      taskHandler(slow, async (p, job) => {
        try {
          await work(p.ms, job.signal);
        } catch (err) {
          aborted = err;
          throw err;
        }
      }),
    ]);
    const lost = a.events.once("leaseLost");
    await q.enqueue(slow, { ms: 60_000 }, { jobId: "stolen" });
    const started = await waitFor("the job to be active", async () => {
      const j = await q.getJob("stolen");
      return j?.state === "active" ? j : undefined;
    });
    assert.equal(started.consumer, a.consumer);
    // What another worker's XAUTOCLAIM does once the lease ran out (here: forced, idle 0).
    const entry = await redis.hget(q.keys.job("stolen"), "e");
    await redis.call("XCLAIM", [q.keys.stream, "workers", "thief", 0, entry!, "JUSTID"]);
    const e = await lost;
    assert.ok(e.error instanceof LeaseLostError);
    assert.equal(e.error.kind, "taken");
    await waitFor("the handler to stop", () => aborted !== undefined);
    assert.ok(aborted instanceof LeaseLostError);
    // The job is the thief's now: not acked, not retried, not dead.
    const j = await q.getJob("stolen");
    assert.equal(j?.state, "active");
    assert.equal(j?.consumer, "thief");
    assert.equal(a.counters.get("failed"), 0);
  });
});

Deno.test("an entry idle past its lease is reclaimed by another worker, counting an attempt", async () => {
  await setup(async ({ q, pool, redis }) => {
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "orphan" });
    // A consumer that read the job and died.
    await redis.xreadgroup(
      "GROUP",
      "workers",
      "dead-worker",
      "COUNT",
      1,
      "STREAMS",
      q.keys.stream,
      ">",
    );
    const attempts: number[] = [];
    const w = await pool.start([taskHandler(echo, (_p, job) => void attempts.push(job.attempt))]);
    const reclaimed = w.events.once("reclaimed");
    await waitFor("the orphan to complete", async () => (await q.getJobState("orphan")) === null);
    assert.equal((await reclaimed).job.id, "orphan");
    assert.deepEqual(attempts, [2]);
    assert.equal((await q.totals()).reclaimed, 1);
  });
});

Deno.test("a job whose deliveries keep getting lost goes dead after its attempts", async () => {
  await setup(async ({ q, pool, redis }) => {
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "crashy", maxAttempts: 1 });
    await redis.xreadgroup(
      "GROUP",
      "workers",
      "dead-worker",
      "COUNT",
      1,
      "STREAMS",
      q.keys.stream,
      ">",
    );
    let ran = false;
    const w = await pool.start([taskHandler(echo, () => void (ran = true))]);
    const dead = w.events.once("dead");
    assert.equal((await dead).job.id, "crashy");
    const [letter] = await q.listDeadLetters();
    assert.match(letter!.error, /Lease expired/);
    assert.equal(letter!.attempts, 1);
    assert.equal(ran, false);
  });
});

Deno.test("a restarted worker with the same consumer name runs its own pending jobs first", async () => {
  await setup(async ({ q, pool, redis }) => {
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "mine" });
    await redis.xreadgroup("GROUP", "workers", "host:1", "COUNT", 1, "STREAMS", q.keys.stream, ">");
    const attempts: number[] = [];
    // A lease far longer than the test: only the own-pending read can start it.
    const w = await pool.start([taskHandler(echo, (_p, job) => void attempts.push(job.attempt))], {
      consumer: "host:1",
      leaseMs: 600_000,
      heartbeatMs: 1000,
      reclaimIntervalMs: 600_000,
    });
    await waitFor("the job to complete", () => w.counters.get("completed") === 1);
    assert.deepEqual(attempts, [2]);
  });
});

Deno.test("abortJob() aborts a running handler; the job is removed, not retried", async () => {
  await setup(async ({ q, pool }) => {
    let reason: unknown;
    const w = await pool.start([
      taskHandler(slow, async (p, job) => {
        try {
          await work(p.ms, job.signal);
        } catch (err) {
          reason = err;
          throw err;
        }
      }),
    ]);
    await q.enqueue(slow, { ms: 60_000 }, { jobId: "cancel-me" });
    await waitFor("the job to run", () => w.runningCount === 1);
    assert.equal(w.abortJob("other", "x"), false);
    const aborted = w.events.once("aborted");
    assert.equal(w.abortJob("cancel-me", "operation cancelled"), true);
    assert.equal((await aborted).reason, "operation cancelled");
    assert.ok(reason instanceof JobAbortedError);
    assert.equal(await q.getJobState("cancel-me"), null);
    assert.equal(w.counters.get("failed"), 0);
  });
});

Deno.test("removeJob(force) on a running job aborts its handler at the next renewal", async () => {
  await setup(async ({ q, pool }) => {
    const w = await pool.start([taskHandler(slow, (p, job) => work(p.ms, job.signal))]);
    await q.enqueue(slow, { ms: 60_000 }, { jobId: "gone" });
    await waitFor("the job to run", () => w.runningCount === 1);
    const lost = w.events.once("leaseLost");
    assert.deepEqual(await q.removeJob("gone", { force: true }), {
      removed: true,
      state: "active",
    });
    assert.equal((await lost).error.kind, "gone");
    await waitFor("the handler to stop", () => w.runningCount === 0);
    assert.equal(await q.getJobState("gone"), null);
  });
});

Deno.test("close() lets a running job finish within the grace", async () => {
  await setup(async ({ q, pool }) => {
    const w = await pool.start([taskHandler(slow, (p, job) => work(p.ms, job.signal))], {
      shutdownTimeoutMs: 30_000,
    });
    await q.enqueue(slow, { ms: 300 }, { jobId: "finish-me" });
    await waitFor("the job to run", () => w.runningCount === 1);
    await w.close();
    assert.equal(w.counters.get("completed"), 1);
    assert.equal(await q.getJobState("finish-me"), null);
  });
});

/** A logger that keeps the info lines of the worker given it (its children are itself). */
class InfoLines extends Logger {
  readonly lines: { msg: string; fields?: LogFields }[] = [];
  constructor() {
    super("test");
  }
  override child(): Logger {
    return this;
  }
  override info(msg: string, fields?: LogFields): void {
    this.lines.push({ msg, fields });
  }
}

Deno.test("close() past the grace aborts a job and hands it back at the same attempt", async () => {
  await setup(async ({ q, pool }) => {
    const infoLines = new InfoLines();
    let reason: unknown;
    const a = await pool.start([
      taskHandler(slow, async (p, job) => {
        try {
          await work(p.ms, job.signal);
        } catch (err) {
          reason ??= err;
          throw err;
        }
      }),
    ], { shutdownTimeoutMs: 100, logger: infoLines });
    await q.enqueue(slow, { ms: 60_000 }, { jobId: "handed-back" });
    await waitFor("the job to run", () => a.runningCount === 1);
    await a.close();
    assert.ok(reason instanceof WorkerClosingError);
    // Said when it happens: what an operator (and chaos 4) reads to know the grace ran out.
    assert.deepEqual(
      infoLines.lines.filter((l) => l.msg.startsWith("stopping running handlers")),
      [{
        msg: "stopping running handlers: the shutdown grace is over",
        fields: { jobs: ["handed-back"], graceMs: 100, forced: false },
      }],
    );
    const j = await q.getJob("handed-back");
    assert.equal(
      j?.state,
      "waiting",
      "handed back to the stream, not pending on the closed worker",
    );
    assert.equal(j?.attempts, 1);
    assert.equal(a.counters.get("failed"), 0);

    const attempts: number[] = [];
    await pool.start([taskHandler(slow, (_p, job) => void attempts.push(job.attempt))]);
    await waitFor("another worker to run it", () => attempts.length === 1);
    assert.deepEqual(attempts, [1]);
  });
});

Deno.test("the worker recreates its consumer group after the queue's keys are flushed", async () => {
  await setup(async ({ q, pool, redis }) => {
    const done: string[] = [];
    const w = await pool.start([
      taskHandler(echo, (_p, job) => void done.push(job.id)),
      taskHandler(slow, (p, job) => work(p.ms, job.signal)),
    ], { concurrency: 2 });
    await q.enqueue(slow, { ms: 60_000 }, { jobId: "running" });
    await waitFor("the slow job to run", () => w.runningCount === 1);
    const lost = w.events.once("leaseLost");
    // What FLUSHALL does to this queue (the test Redis is shared, so only our keys go).
    assert.ok(await deleteByPrefix(redis, q.keys.stream.slice(0, -"stream".length)) > 0);
    assert.equal((await lost).error.kind, "gone");
    await q.enqueue(echo, { n: 1 }, { jobId: "after-flush" });
    await waitFor("a job enqueued after the flush", () => done.includes("after-flush"));
  });
});

Deno.test("jobs run at most `concurrency` at a time", async () => {
  await setup(async ({ q, pool }) => {
    let now = 0;
    let peak = 0;
    const w = await pool.start([
      taskHandler(slow, async (p) => {
        peak = Math.max(peak, ++now);
        await new Promise((r) => setTimeout(r, p.ms));
        now--;
      }),
    ], { concurrency: 3 });
    for (let i = 0; i < 12; i++) await q.enqueue(slow, { ms: 30 });
    await waitFor("all jobs", () => w.counters.get("completed") === 12);
    assert.equal(peak, 3);
  });
});

Deno.test("a worker that reclaims its own running job (renewals were failing) does not start it twice", async () => {
  await setup(async ({ q, pool, redis }) => {
    const starts: number[] = [];
    const w = await pool.start([
      taskHandler(slow, async (p, job) => {
        starts.push(job.attempt);
        await work(p.ms, job.signal);
      }),
    ], { leaseMs: 60_000, heartbeatMs: 20_000, reclaimIntervalMs: 50, concurrency: 2 });
    await q.enqueue(slow, { ms: 600 }, { jobId: "mine" });
    await waitFor("the job to run", () => w.runningCount === 1);
    // As if this worker's renewals had failed for longer than the lease (it reclaims only with a
    // free slot, hence two).
    const entry = await redis.hget(q.keys.job("mine"), "e");
    await redis.call("XCLAIM", [
      q.keys.stream,
      "workers",
      w.consumer,
      0,
      entry!,
      "IDLE",
      120_000,
      "JUSTID",
    ]);
    await waitFor("the job to complete", () => w.counters.get("completed") === 1);
    assert.deepEqual(starts, [1]);
    assert.equal(w.counters.get("reclaimed"), 0);
  });
});

Deno.test("a dedup key is freed when its job completes, unless a TTL keeps it", async () => {
  await setup(async ({ q, pool }) => {
    const w = await pool.start([taskHandler(echo, () => {})]);
    const a = await q.enqueue(echo, { n: 1 }, { dedupKey: "plain" });
    const b = await q.enqueue(echo, { n: 1 }, { dedupKey: "tick:12:05", dedupTtlMs: 600_000 });
    await waitFor("both to complete", () => w.counters.get("completed") === 2);
    assert.equal(a.created && b.created, true);
    const again = await q.enqueue(echo, { n: 2 }, { dedupKey: "plain" });
    assert.equal(again.created, true, "the finished job no longer holds its key");
    const late = await q.enqueue(echo, { n: 2 }, { dedupKey: "tick:12:05", dedupTtlMs: 600_000 });
    assert.deepEqual([late.created, late.duplicateOf], [false, "dedup"]);
    const ttl = await q.redis.pttl(q.keys.dedup("tick:12:05"));
    assert.ok(ttl > 0 && ttl <= 600_000, `the key expires with its TTL, got ${ttl}`);
  });
});

Deno.test("a job of a task this worker has no handler for is offered again, then dies", async () => {
  await setup(async ({ q, pool }) => {
    const w = await pool.start([taskHandler(echo, () => {})], {
      unknownTaskDelayMs: 10,
      maxPostpones: 2,
    });
    await q.add("test.newer_task", {}, { jobId: "u1", maxAttempts: 1 });
    await waitFor("the job to die", () => w.counters.get("dead") === 1);
    assert.equal(w.counters.get("postponed"), 2);
    const [letter] = await q.listDeadLetters();
    assert.match(letter!.error, /No handler for task test\.newer_task/);
  });
});

/** A worker whose one task (`test.dies`, one attempt) always throws: each job goes dead. */
async function startDyingWorker(pool: WorkerPool) {
  const task = defineTask("test.dies", z.object({}), { maxAttempts: 1 });
  const w = await pool.start([
    taskHandler(task, () => {
      throw new Error("no");
    }),
  ]);
  return { task, w };
}

Deno.test("purgeDeadLetters() removes dead jobs that died before a time", async () => {
  await setup(async ({ q, pool, redis }) => {
    const { task, w } = await startDyingWorker(pool);
    await q.enqueue(task, {}, { jobId: "old" });
    await waitFor("the first death", () => w.counters.get("dead") === 1);
    const [first] = await q.listDeadLetters();
    // The second dies after the cut below: Redis' clock (which failedAt comes from) passes it first.
    const serverMs = async () => {
      const [s, us] = await redis.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };
    await waitFor(
      "Redis' clock past the first death + 1 ms",
      async () => await serverMs() > first!.failedAt + 1,
    );
    await q.enqueue(task, {}, { jobId: "new" });
    await waitFor("the second death", () => w.counters.get("dead") === 2);
    const [second] = await q.listDeadLetters();
    assert.equal(second!.id, "new");
    // A cut just after the first death removes it and keeps the second.
    const cut = first!.failedAt + 1;
    const removed = await q.purgeDeadLetters(cut);
    const left = (await q.listDeadLetters()).map((l) => l.id);
    assert.ok(second!.failedAt >= cut, `the second died at ${second!.failedAt}, cut ${cut}`);
    assert.equal(removed, 1);
    assert.deepEqual(left, ["new"]);
    assert.equal(await q.getJobState("old"), null, "the purged job is gone");
    assert.equal(await q.purgeDeadLetters(Date.now() + 60_000), left.length);
    assert.deepEqual(await q.listDeadLetters(), []);
    assert.equal((await q.depth()).dead, 0);
  });
});

Deno.test("purgeDeadLetters() goes by failedAt: a letter whose entry id is a millisecond later is purged at failedAt + 1", async () => {
  await setup(async ({ q, pool, redis }) => {
    const { task, w } = await startDyingWorker(pool);
    await q.enqueue(task, {}, { jobId: "tick" });
    await waitFor("the death", () => w.counters.get("dead") === 1);
    const [letter] = await q.listDeadLetters();
    // As when the clock ticks between move_to_dead's TIME and its XADD: the entry id 1 ms later.
    const [entry] = await redis.xrange(q.keys.dead, "-", "+");
    const [oldId, fields] = entry!;
    await redis.xdel(q.keys.dead, oldId);
    const newId = await redis.xadd(q.keys.dead, `${letter!.failedAt + 1}-*`, ...fields);
    await redis.hset(q.keys.job("tick"), "de", newId!);
    assert.equal(Number(newId!.split("-")[0]), letter!.failedAt + 1);
    assert.equal(await q.purgeDeadLetters(letter!.failedAt), 0, "not purged before it died");
    assert.equal(await q.purgeDeadLetters(letter!.failedAt + 1), 1);
    assert.deepEqual(await q.listDeadLetters(), []);
    assert.equal(await q.getJobState("tick"), null);
  });
});

Deno.test("a worker that claims back its own entry after losing its lease runs a fresh attempt at once, while the aborted handler winds down", async () => {
  await setup(async ({ q, pool, redis }) => {
    const windDown = Promise.withResolvers<void>();
    const starts: number[] = [];
    const w = await pool.start([
      taskHandler(slow, async (_p, job) => {
        starts.push(job.attempt);
        // Attempt 1 ignores its signal for a while (a long synchronous batch, a slow call).
        if (job.attempt === 1) {
          await windDown.promise;
          throw job.signal.reason;
        }
      }),
    ], { concurrency: 2 });
    await q.enqueue(slow, { ms: 0 }, { jobId: "back" });
    await waitFor("attempt 1 to run", () => starts.length === 1, { timeoutMs: 5000 });
    const entry = await redis.hget(q.keys.job("back"), "e");
    // Another worker took the job over (w's renewals had stalled past the lease) ...
    const lost = w.events.once("leaseLost");
    await redis.call("XCLAIM", [q.keys.stream, "workers", "thief", 0, entry!, "JUSTID"]);
    await lost;
    // ... and died at once: its entry is idle past the lease, and w, with a free slot, claims it.
    await redis.call("XCLAIM", [
      q.keys.stream,
      "workers",
      "thief",
      0,
      entry!,
      "IDLE",
      60_000,
      "JUSTID",
    ]);
    // Within a few reclaim scans (every 200 ms here), not after the aborted handler ends.
    await waitFor("a fresh attempt of the job", () => starts.length === 2, { timeoutMs: 4000 });
    await waitFor("the fresh attempt to complete", () => w.counters.get("completed") === 1, {
      timeoutMs: 4000,
    });
    assert.deepEqual(starts, [1, 2]);
    assert.equal(await q.getJobState("back"), null);
    windDown.resolve();
    await waitFor("the aborted handler to end", () => w.runningCount === 0, { timeoutMs: 2000 });
    assert.equal(w.counters.get("failed"), 0, "the aborted run's outcome is nobody's");
  });
});

Deno.test("attempts count failures and lost deliveries alike: after several lost deliveries the job dies with its last attempt", async () => {
  await setup(async ({ q, pool }) => {
    const task = defineTask("test.lost", z.object({}), {
      maxAttempts: 4,
      backoff: { delayMs: 20, jitter: 0 },
    });
    const runs: { attempt: number; worker: number }[] = [];
    const handler = (worker: number) =>
      taskHandler(task, (_p, job) => {
        runs.push({ attempt: job.attempt, worker });
        if (job.attempt === 1) throw new Error("first attempt fails");
        // Later attempts hang, ignoring their signal: their worker dies holding them.
        return new Promise<void>(() => {});
      });
    const dead = Promise.withResolvers<JobRef>();
    const start = async (n: number) => {
      const w = await pool.start([handler(n)], { abortGraceMs: 50, shutdownTimeoutMs: 0 });
      w.events.on("dead", (e) => dead.resolve(e.job));
      return w;
    };
    let w = await start(0);
    await q.enqueue(task, {}, { jobId: "lost" });
    for (let n = 1; n <= 3; n++) {
      // Attempt n + 1 runs on worker n - 1, which then dies holding it; worker n takes it over.
      await waitFor(`attempt ${n + 1} to run`, () => runs.length === n + 1, { timeoutMs: 5000 });
      await w.close(true);
      w = await start(n);
    }
    const job = await dead.promise;
    assert.equal(job.id, "lost");
    assert.deepEqual(runs.map((r) => r.attempt), [1, 2, 3, 4]);
    assert.deepEqual(runs.map((r) => r.worker), [0, 0, 1, 2]);
    const [letter] = await q.listDeadLetters();
    assert.equal(letter!.attempts, 4);
    assert.match(letter!.error, /Lease expired.*\(attempt 4 of 4\)/);
    const totals = await q.totals();
    assert.deepEqual([totals.retried, totals.reclaimed, totals.dead], [1, 2, 1]);
  });
});

Deno.test("an old owner's late success after a takeover is not acked: the job stays the new owner's until it finishes", async () => {
  await setup(async ({ q, pool }) => {
    const oldDone = Promise.withResolvers<void>();
    const newDone = Promise.withResolvers<void>();
    const starts: string[] = [];
    // The old owner renews rarely, so it does not notice the takeover before it returns.
    const a = await pool.start([
      taskHandler(slow, async () => {
        starts.push("a");
        await oldDone.promise;
        return "late";
      }),
    ], { leaseMs: 60_000, heartbeatMs: 20_000, reclaimIntervalMs: 60_000 });
    await q.enqueue(slow, { ms: 0 }, { jobId: "taken" });
    await waitFor("a to run the job", () => starts.length === 1, { timeoutMs: 5000 });
    // b uses the normal short lease: a's entry, not renewed for 800 ms, is taken over.
    const b = await pool.start([
      taskHandler(slow, async (_p, job) => {
        starts.push(`b${job.attempt}`);
        await newDone.promise;
        return "new";
      }),
    ]);
    await waitFor("b to take the job over", () => starts.length === 2, { timeoutMs: 5000 });
    assert.deepEqual(starts, ["a", "b2"]);
    const aResults: unknown[] = [];
    a.events.on("completed", (e) => aResults.push(e.result));
    oldDone.resolve();
    // close() returns once a's handler returned and its ack was tried.
    await a.close();
    // a's ack found the entry held by b: nothing acked, nothing reported.
    const j = await q.getJob("taken");
    assert.deepEqual([j?.state, j?.consumer], ["active", b.consumer]);
    assert.deepEqual(aResults, []);
    assert.equal(a.counters.get("completed"), 0);
    const bDone = b.events.once("completed");
    newDone.resolve();
    assert.equal((await bDone).result, "new");
    assert.equal((await q.totals()).completed, 1);
    assert.equal(await q.getJobState("taken"), null);
  });
});

Deno.test("a dead job keeps a bounded summary: its size instead of a large payload, requeued only with a payload given", async () => {
  await setup(async ({ q, pool, redis }) => {
    const task = defineTask("test.big", z.object({ texts: z.array(z.string()) }), {
      maxAttempts: 1,
    });
    let fail = true;
    const seen: number[] = [];
    const w = await pool.start([
      taskHandler(task, (p) => {
        seen.push(p.texts.length);
        if (fail) throw new Error("x".repeat(10_000));
      }),
    ]);
    const big = { texts: Array.from({ length: 64 }, () => "y".repeat(1024)) };
    await q.enqueue(task, big, { jobId: "big" });
    await q.enqueue(task, { texts: ["small"] }, { jobId: "small" });
    await waitFor("both to die", () => w.counters.get("dead") === 2, { timeoutMs: 5000 });
    const hash = await redis.hgetall(q.keys.job("big"));
    assert.equal(hash.d, undefined, "the large payload is not kept");
    assert.equal(Number(hash.dsz), JSON.stringify(big).length);
    assert.ok(hash.err!.length <= 4100, `error kept at ${hash.err!.length} bytes`);
    const letters = await q.listDeadLetters();
    assert.ok(letters.every((l) => l.error.length <= 4100));
    assert.equal(
      (await redis.hgetall(q.keys.job("small"))).d,
      JSON.stringify({ texts: ["small"] }),
    );

    fail = false;
    await assert.rejects(q.requeueDeadLetter("big"), /payload \(\d+ bytes\) was too large to keep/);
    assert.equal(await q.getJobState("big"), "dead", "nothing changed");
    assert.equal(await q.requeueDeadLetter("big", { payload: { texts: ["rebuilt"] } }), true);
    assert.equal(await q.requeueDeadLetter("small"), true, "a small payload was kept");
    await waitFor("both requeued jobs to run", () => w.counters.get("completed") === 2, {
      timeoutMs: 5000,
    });
    assert.deepEqual(seen.slice(2).sort(), [1, 1]);
  });
});
