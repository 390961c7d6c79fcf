import { operationRowFixture } from "../shared/testing/events.ts";
/**
 * Every Lua script's keys lie in one Redis Cluster slot, as the code builds them: the queue's,
 * the event publisher's and the hub's scripts are run through their real code paths on a
 * recording connection, and each call's KEYS are hashed with a CRC16 written here (checked
 * against the slots the Redis Cluster specification gives). On a cluster (`deno task
 * test:cluster`) each key's slot is checked against `CLUSTER KEYSLOT` too.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Redis } from "ioredis";
import { createRedis, EventPublisher, KeySpace } from "@semantik/shared";
import {
  createTestRedis,
  publishNext,
  type TestRedis,
  testRedisIsCluster,
  waitFor,
} from "@semantik/shared/testing";
import { Queue } from "../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { LUA_SOURCES } from "../shared/queue/scripts.ts";
import { EventKeys } from "../shared/events/event_keys.ts";
import { OperationHub } from "../api/ws/operation_hub.ts";
import { loginAttemptKeys, RateLimiter } from "../api/auth/rate_limiter.ts";
import { getLogger } from "../shared/log/logger.ts";

// ---- CRC16 (XMODEM: polynomial 0x1021, init 0) and the key slot, per the cluster spec -------

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** The slot of `key`: CRC16 of the first non-empty `{...}` hash tag, or of the whole key. */
function slotOf(key: string): number {
  const bytes = new TextEncoder().encode(key);
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}

Deno.test("the test's key slot agrees with the Redis Cluster specification", () => {
  // The spec's CRC16 check value, and slots it and `CLUSTER KEYSLOT` give.
  assert.equal(crc16(new TextEncoder().encode("123456789")), 0x31c3);
  assert.equal(slotOf("foo"), 12182);
  assert.equal(slotOf("bar"), 5061);
  assert.equal(slotOf("somekey"), 11058);
  assert.equal(slotOf("{user1000}.following"), slotOf("{user1000}.followers"));
  assert.equal(slotOf("{user1000}.following"), slotOf("user1000"));
  // An empty tag does not count; the first tag wins.
  assert.equal(slotOf("foo{}{bar}"), slotOf("foo{}{bar}".slice(0)));
  assert.notEqual(slotOf("foo{}{bar}"), slotOf("bar"));
  assert.equal(slotOf("foo{{bar}}zap"), slotOf("{bar"));
  assert.equal(slotOf("foo{bar}{zap}"), slotOf("bar"));
});

// ---- recording the scripts the code runs -------------------------------------------------------

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

async function luaFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(new URL(dir, import.meta.url))) {
    if (e.isFile && e.name.endsWith(".lua")) {
      out.set(
        e.name.replace(/\.lua$/, ""),
        await Deno.readTextFile(new URL(`${dir}/${e.name}`, import.meta.url)),
      );
    }
  }
  return out;
}

/** Every script file under the four script folders, by `folder/name`, and its source's sha1. */
async function allScripts(): Promise<Map<string, string>> {
  const byHash = new Map<string, string>();
  const queue = await luaFiles("../shared/queue/lua");
  for (const name of queue.keys()) {
    // The queue's scripts run with their includes pasted in: the loaded source is hashed.
    const src = (LUA_SOURCES as Record<string, string>)[name];
    assert.ok(src, `shared/queue/lua/${name}.lua is not loaded by shared/queue/scripts.ts`);
    byHash.set(sha1(src), `queue/${name}`);
  }
  for (const [name, src] of await luaFiles("../shared/events/lua")) {
    byHash.set(sha1(src), `events/${name}`);
  }
  for (const [name, src] of await luaFiles("../api/ws/lua")) byHash.set(sha1(src), `ws/${name}`);
  for (const [name, src] of await luaFiles("../api/auth/lua")) {
    byHash.set(sha1(src), `auth/${name}`);
  }
  return byHash;
}

interface Call {
  script: string;
  keys: string[];
}

/** A connection that records the KEYS of every EVAL/EVALSHA sent through it. */
function recordingConnection(t: TestRedis, calls: Call[], byHash: Map<string, string>): Redis {
  // Not auto-pipelined, so that every command passes through sendCommand one by one.
  const r = createRedis(t.target, { name: "test:slots", blocking: true });
  const send = r.sendCommand.bind(r) as (...a: unknown[]) => unknown;
  (r as unknown as { sendCommand: (...a: unknown[]) => unknown }).sendCommand = (...a) => {
    const cmd = a[0] as { name: string; args: unknown[] };
    const name = cmd.name.toLowerCase();
    if (name === "evalsha" || name === "eval") {
      const body = String(cmd.args[0]);
      const script = byHash.get(name === "eval" ? sha1(body) : body) ?? `unknown ${name}`;
      const n = Number(cmd.args[1]);
      calls.push({ script, keys: cmd.args.slice(2, 2 + n).map(String) });
    }
    return send(...a);
  };
  return r;
}

const ok = defineTask("slots.ok", z.object({}));
const slow = defineTask("slots.slow", z.object({}));
const flaky = defineTask("slots.flaky", z.object({}), {
  maxAttempts: 2,
  backoff: { delayMs: 50, jitter: 0 },
});
const poison = defineTask("slots.poison", z.object({}), { maxAttempts: 1 });
const stuck = defineTask("slots.stuck", z.object({}));

Deno.test("every Lua script's keys, as the code builds them, lie in one cluster slot", async () => {
  const t = await createTestRedis();
  const byHash = await allScripts();
  const calls: Call[] = [];
  const rec = recordingConnection(t, calls, byHash);
  const workers: QueueWorker[] = [];
  const runs: Promise<void>[] = [];
  const log = getLogger("slots-test");
  let hub: OperationHub | undefined;
  try {
    // Two queue names, so that keys of different queues are seen too (each in its own slot).
    for (const queueName of ["default", "embed"]) {
      const q = new Queue(rec, queueName, { prefix: t.prefix });
      const flakyRuns = new Map<string, number>();
      const start = (consumer: string, shutdownTimeoutMs = 5000) => {
        const w = new QueueWorker(queueName, [
          taskHandler({ ...ok, queue: queueName }, () => ({ done: true })),
          taskHandler({ ...slow, queue: queueName }, async () => {
            await new Promise((r) => setTimeout(r, 700)); // past a few lease renewals
          }),
          taskHandler({ ...flaky, queue: queueName }, (_p, job) => {
            const n = (flakyRuns.get(job.id) ?? 0) + 1;
            flakyRuns.set(job.id, n);
            if (n === 1) throw new Error("first attempt fails");
          }),
          taskHandler({ ...poison, queue: queueName }, () => {
            throw new Error("always fails");
          }),
          taskHandler({ ...stuck, queue: queueName }, (_p, job) =>
            new Promise((_, reject) => {
              job.signal.addEventListener("abort", () => reject(job.signal.reason), {
                once: true,
              });
            })),
        ], {
          redis: rec,
          blockingRedis: () => createRedis(t.target, { name: "test:slots:read", blocking: true }),
          // The completing calls go on a connection of the worker's own: recorded too.
          ackRedis: () => recordingConnection(t, calls, byHash),
          prefix: t.prefix,
          consumer,
          concurrency: 4,
          leaseMs: 600,
          heartbeatMs: 100,
          reclaimIntervalMs: 150,
          blockMs: 200,
          delayedPollMs: 30,
          shutdownTimeoutMs,
          abortGraceMs: 300,
        });
        workers.push(w);
        runs.push(w.run());
        return w;
      };
      // A delivery to a consumer that never runs it: another worker reclaims it (redeliver).
      await q.ensureGroup();
      await q.enqueue({ ...ok, queue: queueName }, {}, { jobId: "orphan", dedupKey: "orphan" });
      await rec.xreadgroup(
        "GROUP",
        "workers",
        "ghost",
        "COUNT",
        1,
        "STREAMS",
        q.keys.stream,
        ">",
      );
      const w = start("w1");
      await w.waitUntilReady();
      await q.enqueue({ ...ok, queue: queueName }, {}, { jobId: "a", dedupKey: "a" });
      await q.enqueue({ ...slow, queue: queueName }, {}, { jobId: "s" });
      await q.enqueue({ ...flaky, queue: queueName }, {}, { jobId: "f" });
      await q.enqueue({ ...poison, queue: queueName }, {}, { jobId: "p", dedupKey: "p" });
      await q.enqueue({ ...ok, queue: queueName }, {}, { jobId: "later", delayMs: 60_000 });
      assert.equal((await q.getJob("later"))?.state, "delayed");
      assert.equal((await q.removeJob("later")).removed, true);
      await waitFor(
        `the ${queueName} queue's jobs to finish: one dead, orphan reclaimed`,
        async () => {
          const d = await q.depth();
          return d.waiting === 0 && d.active === 0 && d.delayed === 0 && d.dead === 1;
        },
      );
      assert.equal(await q.requeueDeadLetter("p"), true);
      await waitFor(
        "the requeued poison job to die again",
        async () => (await q.depth()).dead === 1,
      );
      // A job stopped by shutdown is handed back (release).
      await q.enqueue({ ...stuck, queue: queueName }, {}, { jobId: "stuck" });
      await waitFor("the stuck job to run", () => w.runningCount === 1);
      await w.close();
    }
    // Events: publish (the operation's stream and counter, the global stream and its counter).
    const pub = new EventPublisher(rec, new KeySpace(t.prefix));
    for (let i = 0; i < 3; i++) {
      const row = operationRowFixture();
      await publishNext(pub, row);
      await publishNext(pub, row, { status: "completed", progress: 100 });
    }
    // The hub's group creation.
    hub = new OperationHub({
      redis: rec,
      openReader: () => createRedis(t.target, { name: "test:slots:hub", blocking: true }),
      keys: new EventKeys(new KeySpace(t.prefix)),
      log,
    }, { blockMs: 200 });
    await hub.start();

    // The login rate limiter: a failed attempt counts on both counters, a success gives back.
    const limiter = new RateLimiter(rec, `${t.prefix}ratelimit:login:`, { windowSeconds: 60 });
    for (const address of ["10.1.2.3", "2001:db8::7"]) {
      const keys = loginAttemptKeys("alice", address);
      assert.equal(
        await limiter.take([{ key: keys.nameAndAddress, limit: 5 }, {
          key: keys.address,
          limit: 9,
        }]),
        0,
      );
      await limiter.reset(keys.nameAndAddress);
      await limiter.giveBack(keys.address);
    }

    const seen = new Set(calls.map((c) => c.script));
    const missing = [...byHash.values()].filter((s) => !seen.has(s)).sort();
    assert.deepEqual(missing, [], `scripts the code never ran here: ${missing.join(", ")}`);
    assert.deepEqual(calls.filter((c) => c.script.startsWith("unknown")), []);
    const spanning = calls.filter((c) => new Set(c.keys.map(slotOf)).size > 1);
    assert.deepEqual(
      spanning.map((c) => ({ script: c.script, slots: c.keys.map((k) => `${k}=${slotOf(k)}`) })),
      [],
      "a script's keys span slots",
    );
    assert.ok(calls.every((c) => c.keys.length > 0), "every script call names its keys");
    if (testRedisIsCluster()) {
      const keys = [...new Set(calls.flatMap((c) => c.keys))];
      for (const k of keys) {
        assert.equal(Number(await t.redis.call("CLUSTER", ["KEYSLOT", k])), slotOf(k), k);
      }
    }
  } finally {
    await hub?.close();
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(runs);
    rec.disconnect();
    await t.cleanup();
  }
});
