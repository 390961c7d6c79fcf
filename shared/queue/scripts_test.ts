/**
 * The guards of the queue's Lua scripts, one at a time, driven directly: each test sets up the
 * state the guard is about (a second consumer really takes the entry first, the job's hash names
 * another entry, a dedup key names another job) and checks what the script must leave alone.
 * Expected values come from the test: due times from the server's TIME read around the call
 * plus the delay. `deno task mutate` (tests/mutations/queue.json) removes each guard and expects
 * a test here to fail.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { Redis } from "ioredis";
import { withTestRedis } from "../testing/redis.ts";
import { createRedis } from "../redis/redis.ts";
import { setImmediate } from "node:timers";
import { Queue } from "./queue.ts";
import { QueueScripts } from "./scripts.ts";
import { defineTask } from "./task.ts";

const echo = defineTask("test.script_echo", z.object({ n: z.number().int() }));
const GROUP = "workers";

interface Ctx {
  redis: Redis;
  q: Queue;
  s: QueueScripts;
}

async function withQueue(fn: (c: Ctx) => Promise<void>): Promise<void> {
  await withTestRedis(async (t) => {
    const q = new Queue(t.redis, "default", { prefix: t.prefix });
    await q.ensureGroup();
    await fn({ redis: t.redis, q, s: new QueueScripts(t.redis) });
  });
}

/** Reads the next new entry as `consumer`: its entry id. */
async function read(c: Ctx, consumer: string): Promise<string> {
  const reply = await c.redis.xreadgroup(
    "GROUP",
    GROUP,
    consumer,
    "COUNT",
    1,
    "STREAMS",
    c.q.keys.stream,
    ">",
  ) as [string, [string, string[]][]][] | null;
  const id = reply?.[0]?.[1][0]?.[0];
  assert.ok(id, `${consumer} read an entry`);
  return id;
}

/** `consumer` takes entry `id` over (as XAUTOCLAIM does after a lease ran out). */
async function takeOver(c: Ctx, id: string, consumer: string): Promise<void> {
  const claimed = await c.redis.xclaim(c.q.keys.stream, GROUP, consumer, 0, id, "JUSTID");
  assert.deepEqual(claimed, [id], `${consumer} took ${id}`);
}

/** The consumer holding entry `id`, or undefined when it is not pending. */
async function holder(c: Ctx, id: string): Promise<string | undefined> {
  const p = await c.redis.xpending(c.q.keys.stream, GROUP, id, id, 1) as [
    string,
    string,
    number,
    number,
  ][];
  return p[0]?.[1];
}

async function serverNowMs(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

const hashOf = (c: Ctx, jobId: string) => c.redis.hgetall(c.q.keys.job(jobId));

Deno.test("complete_jobs: a job another consumer took over is left to it; the holder completes it", async () => {
  await withQueue(async (c) => {
    await c.q.enqueue(echo, { n: 1 }, { jobId: "j" });
    const e = await read(c, "a");
    await takeOver(c, e, "b");
    const k = c.q.keys;
    const late = await c.s.completeJobs([k.stream, k.stats, k.job("j")], [
      GROUP,
      "a",
      0,
      e,
      "j",
      "0",
    ]);
    assert.deepEqual(late, [[0], [], 0], "a no longer holds it");
    assert.equal(await holder(c, e), "b", "still b's");
    assert.equal((await hashOf(c, "j")).e, e, "the job is untouched");
    assert.equal(await c.redis.xlen(k.stream), 1);
    assert.equal(await c.redis.hget(k.stats, "completed"), null);
    const done = await c.s.completeJobs([k.stream, k.stats, k.job("j")], [
      GROUP,
      "b",
      0,
      e,
      "j",
      "0",
    ]);
    assert.deepEqual(done, [[1], [], 0]);
    assert.deepEqual(await hashOf(c, "j"), {});
    assert.equal(await holder(c, e), undefined);
    assert.equal(await c.redis.xlen(k.stream), 0);
  });
});

Deno.test("complete_jobs reads the next new entries for the consumer in the same call, none when asked for none", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "j1" });
    await c.q.enqueue(echo, { n: 2 }, { jobId: "j2" });
    await c.q.enqueue(echo, { n: 3 }, { jobId: "j3" });
    const e1 = await read(c, "a");
    const [done, next, more] = await c.s.completeJobs([k.stream, k.stats, k.job("j1")], [
      GROUP,
      "a",
      1,
      e1,
      "j1",
      "0",
    ]);
    assert.deepEqual(done, [1]);
    assert.equal(next.length, 1, "one entry asked for, one read");
    assert.equal(more, 1, "j3 waits still");
    const [e2, fields] = next[0]!;
    assert.equal(fields[fields.indexOf("id") + 1], "j2");
    assert.equal(await holder(c, e2), "a", "the read entry is pending for the consumer");
    const [, none, unknown] = await c.s.completeJobs([k.stream, k.stats, k.job("j2")], [
      GROUP,
      "a",
      0,
      e2,
      "j2",
      "0",
    ]);
    assert.deepEqual([none, unknown], [[], 0], "none asked for");
    // j3 is the last one waiting: read, and nothing more.
    const [, last, after] = await c.s.completeJobs([k.stream, k.stats], [GROUP, "a", 1]);
    assert.equal(last.length, 1);
    assert.equal(after, 0, "none waits after j3");
    const e3 = last[0]![0];
    const [, empty, nothingMore] = await c.s.completeJobs([k.stream, k.stats, k.job("j3")], [
      GROUP,
      "a",
      5,
      e3,
      "j3",
      "0",
    ]);
    assert.deepEqual([empty, nothingMore], [[], 0], "nothing waiting");
    // The group gone (a flush): the completion reads nothing and does not fail.
    await c.redis.del(k.stream);
    const [gone, nothing] = await c.s.completeJobs([k.stream, k.stats, k.job("j3")], [
      GROUP,
      "a",
      5,
      e3,
      "j3",
      "0",
    ]);
    assert.deepEqual([gone, nothing], [[0], []]);
  });
});

Deno.test("complete_jobs: the job's hash is deleted only while it names the completed entry", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "j" });
    const e = await read(c, "a");
    // A later job with the same id (the first was removed meanwhile) owns the hash now.
    await c.redis.hset(k.job("j"), "e", "999-0");
    const r = await c.s.completeJobs([k.stream, k.stats, k.job("j")], [GROUP, "a", 0, e, "j", "0"]);
    assert.deepEqual(r, [[1], [], 0], "the entry itself is completed");
    assert.equal((await hashOf(c, "j")).e, "999-0", "the later job's hash stays");
  });
});

Deno.test("complete_jobs frees a dedup key only while it names the job, and keeps it for its TTL", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    // Held by a newer job: left alone.
    await c.q.enqueue(echo, { n: 1 }, { jobId: "old", dedupKey: "d1" });
    const e1 = await read(c, "a");
    await c.redis.set(k.dedup("d1"), "newer");
    await c.s.completeJobs([k.stream, k.stats, k.job("old"), k.dedup("d1")], [
      GROUP,
      "a",
      0,
      e1,
      "old",
      "1",
    ]);
    assert.equal(await c.redis.get(k.dedup("d1")), "newer");
    // Its own, with a TTL: kept until enqueued-at + TTL.
    const ttlMs = 60_000;
    const before = await serverNowMs(c.redis);
    await c.q.enqueue(echo, { n: 2 }, { jobId: "ttl", dedupKey: "d2", dedupTtlMs: ttlMs });
    const e2 = await read(c, "a");
    await c.s.completeJobs([k.stream, k.stats, k.job("ttl"), k.dedup("d2")], [
      GROUP,
      "a",
      0,
      e2,
      "ttl",
      "1",
    ]);
    assert.equal(await c.redis.get(k.dedup("d2")), "ttl");
    const pttl = await c.redis.pttl(k.dedup("d2"));
    const after = await serverNowMs(c.redis);
    // Enqueued and completed between `before` and `after` (server clock): the TTL left is the
    // job's TTL less the time since it was enqueued.
    assert.ok(pttl <= ttlMs && pttl >= ttlMs - (after - before) - 2, `TTL ${pttl} ms left`);
    // Its own, without a TTL: freed.
    await c.q.enqueue(echo, { n: 3 }, { jobId: "plain", dedupKey: "d3" });
    const e3 = await read(c, "a");
    await c.s.completeJobs([k.stream, k.stats, k.job("plain"), k.dedup("d3")], [
      GROUP,
      "a",
      0,
      e3,
      "plain",
      "1",
    ]);
    assert.equal(await c.redis.get(k.dedup("d3")), null);
  });
});

Deno.test("renew_leases: an entry another consumer took is not claimed back; a gone one says 0", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "j1" });
    await c.q.enqueue(echo, { n: 2 }, { jobId: "j2" });
    await c.q.enqueue(echo, { n: 3 }, { jobId: "j3" });
    const e1 = await read(c, "a");
    const e2 = await read(c, "a");
    const e3 = await read(c, "a");
    await takeOver(c, e1, "b");
    await c.redis.xack(k.stream, GROUP, e2);
    const r = await c.s.renewLeases([k.stream], [GROUP, "a", e1, e2, e3]);
    assert.deepEqual(r, [-1, 0, 1]);
    assert.equal(await holder(c, e1), "b", "b keeps the entry it took");
    assert.equal(await holder(c, e2), undefined);
    assert.equal(await holder(c, e3), "a");
  });
});

Deno.test("redeliver_jobs: skips an entry another consumer holds, cleans a leftover, and dead-letters past the attempts", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    const base = [k.stream, k.dead, k.stats];
    const args = [GROUP, "a", "lost"];
    // Held by b: nothing changes.
    await c.q.enqueue(echo, { n: 1 }, { jobId: "held", maxAttempts: 5 });
    const e1 = await read(c, "a");
    await takeOver(c, e1, "b");
    assert.deepEqual(
      await c.s.redeliverJobs([...base, k.job("held")], [...args, e1, "held", "0"]),
      [0],
    );
    assert.equal(await holder(c, e1), "b");
    assert.equal((await hashOf(c, "held")).a, "1", "no attempt counted");
    // A leftover (the hash names another entry): acked and deleted, the job untouched.
    await c.q.enqueue(echo, { n: 2 }, { jobId: "left", maxAttempts: 5 });
    const e2 = await read(c, "a");
    await c.redis.hset(k.job("left"), "e", "999-0");
    assert.deepEqual(
      await c.s.redeliverJobs([...base, k.job("left")], [...args, e2, "left", "0"]),
      [0],
    );
    assert.equal(await holder(c, e2), undefined);
    assert.equal((await c.redis.xrange(k.stream, e2, e2)).length, 0);
    assert.equal((await hashOf(c, "left")).a, "1");
    // Two attempts: the first redelivery runs attempt 2, the next one is past the limit.
    await c.q.enqueue(echo, { n: 3 }, { jobId: "two", maxAttempts: 2 });
    const e3 = await read(c, "a");
    assert.deepEqual(
      await c.s.redeliverJobs([...base, k.job("two")], [...args, e3, "two", "0"]),
      [2],
    );
    assert.equal(await c.q.getJobState("two"), "active");
    assert.deepEqual(
      await c.s.redeliverJobs([...base, k.job("two")], [...args, e3, "two", "0"]),
      [-1],
    );
    const dead = await hashOf(c, "two");
    assert.equal(dead.s, "dead");
    assert.equal(dead.a, "2", "the attempts made");
    assert.equal(await c.redis.xlen(k.dead), 1);
    assert.equal(await holder(c, e3), undefined);
  });
});

Deno.test("retry_job: due at the server's time plus the delay; refused for an entry another consumer holds or a hash naming another entry", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    const keys = (id: string) => [k.stream, k.delayed, k.job(id), k.stats];
    const delay = 5_000;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "r" });
    const e = await read(c, "a");
    const before = await serverNowMs(c.redis);
    const due = Number(
      await c.s.retryJob(keys("r"), [GROUP, "a", e, "r", delay, "boom", "retry"]),
    );
    const after = await serverNowMs(c.redis);
    assert.ok(due >= before + delay && due <= after + delay, `due ${due}, now ${before}`);
    assert.equal(Number(await c.redis.zscore(k.delayed, "r")), due);
    assert.equal((await hashOf(c, "r")).due, String(due));
    assert.equal(await holder(c, e), undefined);
    // Another consumer holds it: nothing changes.
    await c.q.enqueue(echo, { n: 2 }, { jobId: "held" });
    const e2 = await read(c, "a");
    await takeOver(c, e2, "b");
    assert.equal(
      await c.s.retryJob(keys("held"), [GROUP, "a", e2, "held", delay, "x", "retry"]),
      0,
    );
    assert.equal(await holder(c, e2), "b");
    assert.equal(await c.redis.zscore(k.delayed, "held"), null);
    // The hash names another entry: the leftover goes, the job is not scheduled.
    await c.q.enqueue(echo, { n: 3 }, { jobId: "left" });
    const e3 = await read(c, "a");
    await c.redis.hset(k.job("left"), "e", "999-0");
    assert.equal(
      await c.s.retryJob(keys("left"), [GROUP, "a", e3, "left", delay, "x", "retry"]),
      -1,
    );
    assert.equal(await c.redis.zscore(k.delayed, "left"), null);
    assert.equal((await hashOf(c, "left")).s, "waiting");
  });
});

Deno.test("move_to_dead: refused for an entry another consumer holds or a hash naming another entry", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    const keys = (id: string) => [k.stream, k.dead, k.job(id), k.stats];
    await c.q.enqueue(echo, { n: 1 }, { jobId: "held" });
    const e1 = await read(c, "a");
    await takeOver(c, e1, "b");
    assert.equal(await c.s.moveToDead(keys("held"), [GROUP, "a", e1, "held", "err", 1]), 0);
    assert.equal(await holder(c, e1), "b");
    assert.equal((await hashOf(c, "held")).s, "waiting");
    assert.equal(await c.redis.xlen(k.dead), 0);
    await c.q.enqueue(echo, { n: 2 }, { jobId: "left" });
    const e2 = await read(c, "a");
    await c.redis.hset(k.job("left"), "e", "999-0");
    assert.equal(await c.s.moveToDead(keys("left"), [GROUP, "a", e2, "left", "err", 1]), -1);
    assert.equal((await hashOf(c, "left")).s, "waiting");
    assert.equal(await c.redis.xlen(k.dead), 0);
  });
});

Deno.test("release_jobs: hands back only entries this consumer holds whose hash names them, at their attempt", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "held" });
    await c.q.enqueue(echo, { n: 2 }, { jobId: "left" });
    await c.q.enqueue(echo, { n: 3 }, { jobId: "mine" });
    const e1 = await read(c, "a");
    const e2 = await read(c, "a");
    const e3 = await read(c, "a");
    await takeOver(c, e1, "b");
    await c.redis.hset(k.job("left"), "e", "999-0");
    const n = await c.s.releaseJobs([k.stream, k.job("held"), k.job("left"), k.job("mine")], [
      GROUP,
      "a",
      e1,
      "held",
      3,
      e2,
      "left",
      3,
      e3,
      "mine",
      3,
    ]);
    assert.equal(n, 1);
    assert.equal(await holder(c, e1), "b");
    assert.equal((await hashOf(c, "held")).e, e1);
    assert.equal((await hashOf(c, "left")).e, "999-0");
    const mine = await hashOf(c, "mine");
    assert.notEqual(mine.e, e3);
    assert.equal(mine.a, "3");
    const entry = (await c.redis.xrange(k.stream, mine.e!, mine.e!))[0];
    assert.ok(entry, "the new entry exists");
    const fields = entry[1];
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    assert.equal(f.id, "mine");
    assert.equal(f.a, "3", "the new entry keeps the attempt");
    assert.equal(
      await c.redis.xlen(k.stream),
      2,
      "held's entry and mine's new one; left's leftover gone",
    );
  });
});

Deno.test("enqueue: a delayed job is due at the server's time plus the delay and not in the stream; promotion waits for it", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    const delay = 60_000;
    const before = await serverNowMs(c.redis);
    await c.q.enqueue(echo, { n: 1 }, { jobId: "later", delayMs: delay });
    const after = await serverNowMs(c.redis);
    const due = Number(await c.redis.zscore(k.delayed, "later"));
    assert.ok(due >= before + delay && due <= after + delay, `due ${due}, now ${before}`);
    assert.equal(await c.redis.xlen(k.stream), 0);
    assert.equal(await c.s.promoteDelayed([k.delayed, k.stream, k.job("later")], ["later"]), 0);
    assert.equal(await c.q.getJobState("later"), "delayed");
    // Once due (moved back rather than waited for), it is promoted once, as attempt 1.
    await c.redis.zadd(k.delayed, before - 1, "later");
    assert.equal(await c.s.promoteDelayed([k.delayed, k.stream, k.job("later")], ["later"]), 1);
    assert.equal(await c.s.promoteDelayed([k.delayed, k.stream, k.job("later")], ["later"]), 0);
    assert.equal(await c.redis.xlen(k.stream), 1);
    assert.equal((await hashOf(c, "later")).a, "1");
  });
});

Deno.test("remove_job: refuses a stale dedup key and never frees a dedup key another job holds", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "a", dedupKey: "d" });
    const keys = [k.stream, k.delayed, k.dead, k.job("a"), k.dedup("d")];
    assert.deepEqual(await c.s.removeJob(keys, [GROUP, "a", "0", "other"]), [-1, ""]);
    assert.equal((await hashOf(c, "a")).s, "waiting", "nothing removed");
    // The key was taken over by a newer job: removing a leaves it.
    await c.redis.set(k.dedup("d"), "b");
    assert.deepEqual(await c.s.removeJob(keys, [GROUP, "a", "0", "d"]), [1, "waiting"]);
    assert.equal(await c.redis.get(k.dedup("d")), "b");
    // Its own key goes with it.
    await c.q.enqueue(echo, { n: 2 }, { jobId: "c", dedupKey: "e" });
    assert.deepEqual((await c.q.removeJob("c")).removed, true);
    assert.equal(await c.redis.get(k.dedup("e")), null);
  });
});

Deno.test("requeue_dead: only a dead job is requeued", async () => {
  await withQueue(async (c) => {
    const k = c.q.keys;
    await c.q.enqueue(echo, { n: 1 }, { jobId: "live" });
    assert.equal(await c.s.requeueDead([k.stream, k.dead, k.job("live")], ["live", ""]), null);
    assert.equal(await c.redis.xlen(k.stream), 1, "no second entry for a live job");
    assert.equal(await c.q.requeueDeadLetter("live"), false);
  });
});

Deno.test("the queue's scripts answer on a new auto-pipelined connection whose pipeline was made before them, in the same tick (ioredis' defineCommand crashed the process here)", async () => {
  await withTestRedis(async (t) => {
    const redis = createRedis(t.target, { name: "test:scripts:auto" });
    try {
      await redis.ping();
      // A pipeline runs, and a second one waits behind it, made before any script is known.
      const running = redis.ping();
      await new Promise((r) => setImmediate(r));
      const waiting = redis.set(`${t.prefix}k`, "v");
      const s = new QueueScripts(redis);
      const state = s.jobState([`${t.prefix}job:none`, `${t.prefix}stream`], [GROUP]);
      assert.deepEqual(await Promise.all([running, waiting, state]), ["PONG", "OK", null]);
    } finally {
      redis.disconnect();
    }
  });
});
