import assert from "node:assert/strict";
import { z } from "zod";
import { withTestRedis } from "../testing/redis.ts";
import { Queue } from "./queue.ts";
import { QueueClient } from "./queue_client.ts";
import { defineTask } from "./task.ts";
import { isValidJobId, QueueKeys } from "./keys.ts";
import { KeySpace } from "../redis/redis.ts";

const echo = defineTask("test.echo", z.object({ n: z.number().int() }));
const embed = defineTask("test.embed", z.object({ texts: z.array(z.string()) }), {
  queue: "embed",
});

Deno.test("QueueKeys put every key of a queue under one hash tag and the prefix", () => {
  const k = new QueueKeys(new KeySpace("semantik:"), "default");
  assert.equal(k.stream, "semantik:{q:default}:stream");
  assert.equal(k.delayed, "semantik:{q:default}:delayed");
  assert.equal(k.dead, "semantik:{q:default}:dead");
  assert.equal(k.job("abc"), "semantik:{q:default}:job:abc");
  assert.equal(k.dedup("sync:1"), "semantik:{q:default}:dedup:sync:1");
  assert.throws(() => new QueueKeys(new KeySpace(""), "a}b"), TypeError);
  assert.equal(isValidJobId("0b6f1f0e-3c1e-4a8e-9b1e-2f1e3c1e4a8e"), true);
  assert.equal(isValidJobId("a{b}"), false);
});

Deno.test("defineTask() puts a task on the `default` queue unless it names another", () => {
  assert.equal(embed.queue, "embed");
  assert.equal(echo.queue, "default");
});

Deno.test("enqueue() validates the payload with the task's schema", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => q.enqueue(echo, { n: "x" } as any),
      (err: Error) => err instanceof TypeError && /invalid payload: n:/.test(err.message),
    );
    await assert.rejects(() => q.enqueue(embed, { texts: [] }), /runs on queue embed/);
    await assert.rejects(() => q.enqueue(echo, { n: 1 }, { jobId: "a b" }), /job id/);
    await assert.rejects(() => q.enqueue(echo, { n: 1 }, { delayMs: -1 }), /delayMs/);
    await assert.rejects(() => q.enqueue(echo, { n: 1 }, { maxAttempts: 0 }), /maxAttempts/);
    assert.deepEqual(await q.depth(), { waiting: 0, active: 0, delayed: 0, dead: 0 });
  });
});

Deno.test("the same job id enqueued twice, even concurrently, is one job", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => q.enqueue(echo, { n: i }, { jobId: "op-1" })),
    );
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.ok(results.every((r) => r.jobId === "op-1"));
    assert.ok(results.filter((r) => !r.created).every((r) => r.duplicateOf === "id"));
    assert.equal(await t.redis.xlen(q.keys.stream), 1);
    assert.equal((await q.depth()).waiting, 1);
    assert.equal((await q.totals()).enqueued, 1);
    assert.equal(q.counters.get("enqueued"), 1);
  });
});

Deno.test("a dedup key enqueued concurrently many times gives one job", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const results = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => q.enqueue(echo, { n: i }, { dedupKey: "sync:c1:tick" }),
      ),
    );
    const created = results.filter((r) => r.created);
    assert.equal(created.length, 1);
    assert.ok(results.every((r) => r.jobId === created[0]!.jobId), "duplicates name the live job");
    assert.equal(await t.redis.xlen(q.keys.stream), 1);

    // A delayed job holds its key too.
    const d1 = await q.enqueue(echo, { n: 1 }, { dedupKey: "later", delayMs: 60_000 });
    const d2 = await q.enqueue(echo, { n: 2 }, { dedupKey: "later" });
    assert.equal(d1.created, true);
    assert.deepEqual([d2.created, d2.jobId, d2.duplicateOf], [false, d1.jobId, "dedup"]);

    // Removing the job frees the key.
    assert.deepEqual(await q.removeJob(d1.jobId), { removed: true, state: "delayed" });
    assert.equal((await q.enqueue(echo, { n: 3 }, { dedupKey: "later" })).created, true);
  });
});

Deno.test("getJob() reports a delayed job with its due time, metadata and no consumer", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    const r = await q.enqueue(echo, { n: 1 }, {
      jobId: "j1",
      delayMs: 60_000,
      meta: { replyTo: "r:1" },
      maxAttempts: 5,
    });
    assert.equal(r.created, true);
    const j = await q.getJob("j1");
    assert.ok(j);
    assert.equal(j.state, "delayed");
    assert.equal(j.name, "test.echo");
    assert.equal(j.maxAttempts, 5);
    assert.equal(j.attempts, 0);
    assert.deepEqual(j.meta, { replyTo: "r:1" });
    assert.ok(j.dueAt! >= j.enqueuedAt + 60_000);
    assert.equal(j.consumer, undefined);
    assert.equal(await q.getJobState("nope"), null);
    assert.deepEqual(await q.depth(), { waiting: 0, active: 0, delayed: 1, dead: 0 });
  });
});

Deno.test("a job read by a consumer is active until acked", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "j1" });
    assert.equal(await q.getJobState("j1"), "waiting");
    await t.redis.xreadgroup("GROUP", "workers", "c1", "COUNT", 1, "STREAMS", q.keys.stream, ">");
    const j = await q.getJob("j1");
    assert.equal(j?.state, "active");
    assert.equal(j?.consumer, "c1");
    assert.deepEqual(await q.depth(), { waiting: 0, active: 1, delayed: 0, dead: 0 });
  });
});

Deno.test("removeJob() cancels a waiting job, refuses a running one unless forced", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "w" });
    assert.deepEqual(await q.removeJob("w"), { removed: true, state: "waiting" });
    assert.equal(await t.redis.xlen(q.keys.stream), 0);
    assert.equal(await q.getJobState("w"), null);
    assert.deepEqual(await q.removeJob("w"), { removed: false, state: null });

    await q.enqueue(echo, { n: 2 }, { jobId: "r", dedupKey: "k" });
    await t.redis.xreadgroup("GROUP", "workers", "c1", "COUNT", 1, "STREAMS", q.keys.stream, ">");
    assert.deepEqual(await q.removeJob("r"), { removed: false, state: "active" });
    assert.deepEqual(await q.removeJob("r", { force: true }), { removed: true, state: "active" });
    assert.equal(await t.redis.exists(q.keys.dedup("k")), 0);
    const pending = await t.redis.call("XPENDING", [q.keys.stream, "workers"]) as unknown[];
    assert.equal(Number(pending[0]), 0, "the forced removal acked the running entry");
  });
});

Deno.test("QueueClient routes tasks to their queues and finds jobs on any queue", async () => {
  await withTestRedis(async (t) => {
    const c = new QueueClient(t.redis, { prefix: t.prefix });
    const a = await c.enqueue(echo, { n: 1 }, { jobId: "a" });
    const b = await c.enqueue(embed, { texts: ["x"] }, { jobId: "b" });
    assert.equal(a.queue, "default");
    assert.equal(b.queue, "embed");
    assert.equal(await c.getJobState("b"), "waiting");
    assert.equal((await c.getJob("b"))?.queue, "embed");
    const depth = await c.depth();
    assert.equal(depth.default?.waiting, 1);
    assert.equal(depth.embed?.waiting, 1);
    assert.deepEqual(await c.removeJob("b"), { removed: true, state: "waiting" });
    assert.equal(await c.getJobState("b"), null);
    assert.equal((await c.totals()).embed?.enqueued, 1);
  });
});

Deno.test("removeIdleConsumers() drops idle consumers without pending jobs, and only those", async () => {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    await q.ensureGroup();
    await q.enqueue(echo, { n: 1 }, { jobId: "held" });
    const s = q.keys.stream;
    await t.redis.xreadgroup("GROUP", "workers", "busy", "COUNT", 1, "STREAMS", s, ">");
    for (const c of ["idle-dead", "live"]) {
      await t.redis.call("XGROUP", ["CREATECONSUMER", s, "workers", c]);
    }
    const removed = await q.removeIdleConsumers(new Set(["live"]), { minIdleMs: 0 });
    assert.deepEqual(removed, ["idle-dead"]);
    assert.equal((await q.getJob("held"))?.consumer, "busy", "the busy consumer keeps its job");
    assert.deepEqual(
      await new Queue(t.redis, "embed", { prefix: t.prefix }).removeIdleConsumers(new Set()),
      [],
    );
  });
});
