import assert from "node:assert/strict";
import { z } from "zod";
import { waitFor, withTestRedis } from "@semantik/shared/testing";
import { defineTask, QueueClient, taskHandler } from "@semantik/shared";
import { checkWorkerHealth, liveWorkers } from "./liveness.ts";
import { jobSlots, WorkerRuntime } from "./worker_runtime.ts";

const FAST_QUEUE = { leaseMs: 800, heartbeatMs: 150, reclaimIntervalMs: 200, blockMs: 300 };

const index = defineTask("test.index", z.object({ ms: z.number() }));
const embed = defineTask("test.embed", z.object({ texts: z.array(z.string()) }), {
  queue: "embed",
});

Deno.test("jobSlots() is min(cpus - 1, max) and at least 1", () => {
  assert.equal(jobSlots(8, 4), 4);
  assert.equal(jobSlots(3, 4), 2);
  assert.equal(jobSlots(2, 4), 1);
  assert.equal(jobSlots(1, 4), 1);
  assert.equal(jobSlots(16, 1), 1);
});

Deno.test("WorkerRuntime serves each queue with its slots and guards embedding with the semaphore", async () => {
  await withTestRedis(async (t) => {
    let embedding = 0;
    let embedPeak = 0;
    let indexing = 0;
    let indexPeak = 0;
    const rt = new WorkerRuntime({
      redisUrl: t.target,
      prefix: t.prefix,
      host: "test-host",
      consumer: `c-${crypto.randomUUID()}`,
      concurrency: 3,
      embeddingConcurrency: 2,
      queueOptions: FAST_QUEUE,
      livenessIntervalMs: 200,
      handlers: [
        taskHandler(index, async (p) => {
          indexPeak = Math.max(indexPeak, ++indexing);
          await new Promise((r) => setTimeout(r, p.ms));
          indexing--;
        }),
        taskHandler(embed, async (p, job) => {
          await rt.embeddingSemaphore.run(async () => {
            embedPeak = Math.max(embedPeak, ++embedding);
            await new Promise((r) => setTimeout(r, 20));
            embedding--;
          }, job.signal);
          return p.texts.map(() => [0.1, 0.2]);
        }),
      ],
    });
    assert.equal(rt.workers.get("default")?.concurrency, 3);
    assert.equal(rt.workers.get("embed")?.concurrency, 2);
    const running = rt.run();
    try {
      await assert.rejects(() => rt.run(), /already running/);
      await rt.waitUntilReady();
      const results: unknown[] = [];
      rt.on("completed", (e) => {
        if (e.job.name === embed.name) results.push(e.result);
      });
      const client = new QueueClient(t.redis, { prefix: t.prefix });
      for (let i = 0; i < 9; i++) await client.enqueue(index, { ms: 40 });
      for (let i = 0; i < 6; i++) await client.enqueue(embed, { texts: ["a", "b"] });
      await waitFor("all jobs", () => {
        const c = rt.counters();
        return c.default?.completed === 9 && c.embed?.completed === 6;
      });
      assert.equal(indexPeak, 3);
      assert.ok(embedPeak >= 1 && embedPeak <= 2, String(embedPeak));
      assert.deepEqual(results[0], [[0.1, 0.2], [0.1, 0.2]]);
    } finally {
      await rt.close();
      await running;
    }
  });
});

Deno.test("the liveness beat makes the health check pass; close withdraws it", async () => {
  await withTestRedis(async (t) => {
    const host = `host-${crypto.randomUUID().slice(0, 8)}`;
    const rt = new WorkerRuntime({
      redisUrl: t.target,
      prefix: t.prefix,
      host,
      queues: ["default"],
      queueOptions: FAST_QUEUE,
      livenessIntervalMs: 100,
    });
    assert.equal((await checkWorkerHealth(t.url, { prefix: t.prefix, host })).ok, false);
    const running = rt.run();
    try {
      await rt.waitUntilReady();
      const h = await waitFor("a healthy check", async () => {
        const r = await checkWorkerHealth(t.url, { prefix: t.prefix, host });
        return r.ok ? r : undefined;
      });
      assert.equal(h.workers[0]?.consumer, rt.consumer);
      assert.deepEqual(h.workers[0]?.queues, ["default"]);
      assert.equal(
        (await checkWorkerHealth(t.url, { prefix: t.prefix, host: "elsewhere" })).ok,
        false,
      );
    } finally {
      await rt.close();
      await running;
    }
    assert.deepEqual(await liveWorkers(t.redis, { prefix: t.prefix, host }), []);
    const after = await checkWorkerHealth(t.url, { prefix: t.prefix, host });
    assert.equal(after.ok, false);
    assert.match(after.message, /no live worker on host/);
  });
});

Deno.test("checkWorkerHealth() says unhealthy when Redis does not answer", async () => {
  const r = await checkWorkerHealth("redis://127.0.0.1:1", { host: "h", timeoutMs: 500 });
  assert.equal(r.ok, false);
  assert.match(r.message, /cannot read worker heartbeats/);
});

Deno.test("WorkerRuntime.abortJob() reaches a job running on any of its queues", async () => {
  await withTestRedis(async (t) => {
    const rt = new WorkerRuntime({
      redisUrl: t.target,
      prefix: t.prefix,
      queueOptions: FAST_QUEUE,
      handlers: [
        taskHandler(index, (p, job) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(resolve, p.ms);
            job.signal.addEventListener("abort", () => {
              clearTimeout(timer);
              reject(job.signal.reason);
            });
          })),
      ],
    });
    const running = rt.run();
    try {
      await rt.waitUntilReady();
      const client = new QueueClient(t.redis, { prefix: t.prefix });
      await client.enqueue(index, { ms: 60_000 }, { jobId: "op-1" });
      await waitFor("the job to run", () => rt.runningCount === 1);
      const aborted = new Promise((resolve) => rt.on("aborted", resolve));
      assert.equal(rt.abortJob("op-1", "cancelled by user"), true);
      await aborted;
      assert.equal(await client.getJobState("op-1"), null);
    } finally {
      await rt.close();
      await running;
    }
  });
});
