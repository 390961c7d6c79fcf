/**
 * A success and the next job's fetch share one round trip: the `complete_jobs` call that acks a
 * job reads the next entry for the slot it freed, and the worker's blocking read is used only
 * when that read found nothing. The worker's two connections record every command they send.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { Redis } from "ioredis";
import { createRedis } from "../redis/redis.ts";
import { withTestRedis } from "../testing/redis.ts";
import { Queue } from "./queue.ts";
import { QueueWorker, taskHandler } from "./queue_worker.ts";
import { defineTask } from "./task.ts";
import { waitFor } from "./_test_helpers.ts";

const step = defineTask("test.step", z.object({ n: z.number().int() }));

/** A connection that counts the commands sent through it, by name (lower case). */
function countingConnection(
  target: Parameters<typeof createRedis>[0],
  counts: Map<string, number>,
): Redis {
  // Not auto-pipelined, so that every command passes through sendCommand one by one.
  const r = createRedis(target, { name: "test:count", blocking: true });
  const send = r.sendCommand.bind(r) as (...a: unknown[]) => unknown;
  (r as unknown as { sendCommand: (...a: unknown[]) => unknown }).sendCommand = (...a) => {
    const name = (a[0] as { name: string }).name.toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return send(...a);
  };
  return r;
}

Deno.test("at concurrency 1 each success fetches the next job in its completing call: no read per job", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const jobs = 30;
    for (let i = 0; i < jobs; i++) await q.enqueue(step, { n: i }, { jobId: `j${i}` });
    const counts = new Map<string, number>();
    const cmd = countingConnection(t.target, counts);
    const order: string[] = [];
    // Long lease and takeover interval: one takeover scan at start, none during the run.
    const w = new QueueWorker(
      "default",
      [taskHandler(step, (p) => void order.push(`run ${p.n}`))],
      {
        redis: cmd,
        blockingRedis: () => countingConnection(t.target, counts),
        ackRedis: () => countingConnection(t.target, counts),
        prefix: t.prefix,
        consumer: "solo",
        concurrency: 1,
        // Without read-ahead: the completing call is then the only way to skip a read per job.
        prefetch: 0,
        leaseMs: 120_000,
        reclaimIntervalMs: 60_000,
        blockMs: 200,
      },
    );
    w.events.on("started", (e) => order.push(`started ${e.job.id}`));
    w.events.on("completed", (e) => order.push(`completed ${e.job.id}`));
    const run = w.run();
    try {
      await waitFor(`${jobs} completions`, () => w.counters.get("completed") === jobs);
      // The reader's reads: its own pending entries (none), the first new one, and a few more
      // until its look at the stream (an XRANGE beside the first job) says a backlog waits;
      // then each ack reads the next job; one blocking read once the stream is empty. Without
      // the completing read it is one read per job (32 here).
      const reads = counts.get("xreadgroup") ?? 0;
      assert.ok(reads <= 8, `${reads} XREADGROUP calls for ${jobs} jobs`);
      const scripts = (counts.get("evalsha") ?? 0) + (counts.get("eval") ?? 0);
      // One completing call per job (no batching at concurrency 1), plus the delayed mover's
      // polls, which do not depend on the jobs.
      assert.ok(scripts >= jobs, `${scripts} script calls`);
      // Event order: jobs start in the stream's order, and each one's events come in order
      // (started, ran, completed after its ack). A job started by the reader may start while
      // the previous one's ack is in flight, so the jobs' events may interleave.
      const started = order.filter((e) => e.startsWith("started")).map((e) => e.slice(8));
      assert.deepEqual(started, Array.from({ length: jobs }, (_, i) => `j${i}`));
      for (let i = 0; i < jobs; i++) {
        const at = [`started j${i}`, `run ${i}`, `completed j${i}`].map((e) => order.indexOf(e));
        assert.ok(at[0]! >= 0 && at[0]! < at[1]! && at[1]! < at[2]!, `j${i}: ${at}`);
      }
      assert.deepEqual(await q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
    } finally {
      await w.close();
      await run;
      cmd.disconnect();
    }
  });
});

Deno.test("completing calls that read for freed slots never run more than `concurrency` jobs, nor a job twice", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const jobs = 60;
    const concurrency = 4;
    for (let i = 0; i < jobs; i++) await q.enqueue(step, { n: i });
    let running = 0;
    let peak = 0;
    const w = new QueueWorker("default", [
      taskHandler(step, async (p) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, p.n % 5));
        running--;
      }),
    ], {
      redisUrl: t.target,
      prefix: t.prefix,
      concurrency,
      leaseMs: 120_000,
      reclaimIntervalMs: 60_000,
      blockMs: 200,
    });
    const run = w.run();
    try {
      await waitFor(`${jobs} completions`, () => w.counters.get("completed") === jobs);
      assert.equal(w.counters.get("started"), jobs, "each job started once");
      assert.equal(peak, concurrency);
    } finally {
      await w.close();
      await run;
    }
  });
});
