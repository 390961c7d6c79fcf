import assert from "node:assert/strict";
import {
  createTestDb,
  createTestRedis,
  publishNext,
  type TestDb,
  type TestRedis,
} from "@semantik/shared/testing";
import {
  EventPublisher,
  getLogger,
  KeySpace,
  processSourceTask,
  QueueClient,
} from "@semantik/shared";
import { type CleanupDeps, cleanupOperations } from "./cleanup_operations.ts";
import { removeDeadHubGroups } from "./remove_dead_hub_groups.ts";
import { deadLetterJob, Seed } from "./_test_seed.ts";

const log = getLogger("test");
const DAY = 24 * 3600_000;

interface Env {
  t: TestDb;
  r: TestRedis;
  seed: Seed;
  queues: QueueClient;
  events: EventPublisher;
  deps: CleanupDeps;
  live: string[];
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const queues = new QueueClient(r.redis, { prefix: r.prefix });
    const events = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const live: string[] = [];
    await fn({
      t,
      r,
      seed: new Seed(t.db),
      queues,
      events,
      live,
      deps: {
        db: t.db,
        redis: r.redis,
        queues,
        eventKeys: events.keys,
        log,
        liveConsumers: () => Promise.resolve(live),
      },
    });
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
}

const exists = async (r: TestRedis, key: string) => (await r.redis.exists(key)) === 1;

Deno.test("cleanup removes finished operations past the retention with their streams, and nothing else", async () => {
  await withEnv(async ({ r, seed, events, deps }) => {
    const old = "now() - interval '40 days'";
    const goners = [
      await seed.operation({ status: "completed", at: old }),
      await seed.operation({ status: "failed", at: old }),
      await seed.operation({ status: "cancelled", at: old }),
    ];
    const keep = [
      await seed.operation({ status: "completed", at: "now() - interval '5 days'" }),
      // Active operations stay whatever their age, with their streams.
      await seed.operation({ status: "processing", at: old }),
      await seed.operation({ status: "pending", at: old }),
    ];
    for (const op of [...goners, ...keep]) await publishNext(events, op);
    // A stream whose operation row is gone, and a key under {ops}:op: that is not an operation's.
    const orphan = crypto.randomUUID();
    await r.redis.xadd(events.keys.stream(orphan), "1-0", "id", "1", "data", "{}");
    await r.redis.set(events.keys.seq(orphan), "1");
    const foreign = events.keys.stream("not-an-operation");
    await r.redis.set(foreign, "x");

    const res = await cleanupOperations(deps, { retentionDays: 30 });
    assert.equal(res.operations_deleted, 3);
    assert.equal(res.event_keys_deleted, 3 * 2 + 2);
    for (const op of goners) {
      assert.equal(await seed.row(op.id), undefined);
      assert.equal(await exists(r, events.keys.stream(op.id)), false);
      assert.equal(await exists(r, events.keys.seq(op.id)), false);
    }
    for (const op of keep) {
      assert.ok(await seed.row(op.id));
      assert.equal(await exists(r, events.keys.stream(op.id)), true);
      assert.equal(await exists(r, events.keys.seq(op.id)), true);
    }
    assert.equal(await exists(r, events.keys.stream(orphan)), false);
    assert.equal(await exists(r, events.keys.seq(orphan)), false);
    assert.equal(await exists(r, foreign), true);

    // A second run finds nothing.
    const again = await cleanupOperations(deps, { retentionDays: 30 });
    assert.equal(again.operations_deleted, 0);
    assert.equal(again.event_keys_deleted, 0);
  });
});

Deno.test("cleanup deletes in batches", async () => {
  await withEnv(async ({ seed, deps }) => {
    for (let i = 0; i < 7; i++) {
      await seed.operation({ status: "completed", at: "now() - interval '31 days'" });
    }
    const res = await cleanupOperations(deps, { retentionDays: 30, batchSize: 3 });
    assert.equal(res.operations_deleted, 7);
  });
});

Deno.test("cleanup trims the global events stream of every partition by age", async () => {
  await withEnv(async ({ r, events, deps }) => {
    const now = Date.now();
    const ids = [now - 3 * DAY, now - 2 * DAY, now - 3600_000, now - 1000].map((ms) => `${ms}-0`);
    const { partitions } = events.keys;
    assert.ok(partitions > 1, "the default shards events");
    for (let p = 0; p < partitions; p++) {
      for (const id of ids) await r.redis.xadd(events.keys.global(p), id, "op", "x", "data", "{}");
    }
    const res = await cleanupOperations(deps, { globalEventsMaxAgeMs: DAY });
    assert.equal(res.global_events_trimmed, 2 * partitions);
    for (let p = 0; p < partitions; p++) {
      const left = await r.redis.xrange(events.keys.global(p), "-", "+");
      assert.deepEqual(left.map(([id]) => id), ids.slice(2), `partition ${p}`);
    }
  });
});

Deno.test("cleanup purges dead letters past the retention and keeps recent ones", async () => {
  await withEnv(async ({ r, seed, queues, deps }) => {
    // A letter from 40 days ago (its entry id is its time).
    const dead = queues.queue("default").keys.dead;
    await r.redis.xadd(dead, `${Date.now() - 40 * DAY}-0`, "id", "old-job", "err", "x", "a", "1");
    const op = await seed.operation({ status: "failed" });
    await deadLetterJob(r, queues, { task: processSourceTask, jobId: op.id, message: "bad file" });
    const res = await cleanupOperations(deps, { retentionDays: 30 });
    assert.equal(res.dead_letters_purged, 1);
    const letters = await queues.listDeadLetters();
    assert.deepEqual(letters.map((l) => l.id), [op.id]);
  });
});

Deno.test("cleanup removes idle consumers of workers that are gone, never a live one or one with pending jobs", async () => {
  await withEnv(async ({ r, queues, deps, live }) => {
    const q = queues.queue("default");
    await q.ensureGroup();
    const read = (consumer: string) =>
      r.redis.call("XREADGROUP", [
        "GROUP",
        q.group,
        consumer,
        "COUNT",
        "1",
        "STREAMS",
        q.keys.stream,
        ">",
      ]);
    const create = (consumer: string) =>
      r.redis.call("XGROUP", ["CREATECONSUMER", q.keys.stream, q.group, consumer]);
    await create("gone-worker");
    await create("live-worker");
    await queues.enqueue(processSourceTask, { operation_id: crypto.randomUUID() });
    await read("gone-with-a-job"); // holds the job in its pending list
    live.push("live-worker");
    const consumers = async () =>
      ((await r.redis.call("XINFO", ["CONSUMERS", q.keys.stream, q.group])) as string[][])
        .map((c) => c[1]).sort();

    // Active a moment ago: under the default hour, all stay.
    assert.equal((await cleanupOperations(deps)).consumers_removed, 0);
    assert.deepEqual(await consumers(), ["gone-with-a-job", "gone-worker", "live-worker"]);
    const res = await cleanupOperations(deps, { consumerIdleMs: 0 });
    assert.equal(res.consumers_removed, 1);
    assert.deepEqual(await consumers(), ["gone-with-a-job", "live-worker"]);
  });
});

Deno.test("removeDeadHubGroups() removes the groups of hubs without a heartbeat, and only those", async () => {
  await withEnv(async ({ r, events }) => {
    // The last partition: groups on any partition's stream are found.
    const global = events.keys.global(events.keys.partitions - 1);
    await r.redis.xadd(global, "*", "op", "x", "data", "{}");
    const group = async (name: string, read = true) => {
      // As a hub does: at the stream's end.
      await r.redis.xgroup("CREATE", global, name, "$", "MKSTREAM");
      if (read) {
        await r.redis.call("XREADGROUP", [
          "GROUP",
          name,
          "reader",
          "NOACK",
          "COUNT",
          "10",
          "STREAMS",
          global,
          ">",
        ]);
      }
    };
    await group("hub:live");
    await r.redis.set(events.keys.hubHeartbeat("live"), "{}", "EX", 60);
    await group("hub:gone");
    await group("hub:gone-quiet", false);
    await group("analytics"); // not a hub's group
    const groups = async () =>
      ((await r.redis.call("XINFO", ["GROUPS", global])) as string[][]).map((g) => g[1]).sort();

    // Its consumer read a moment ago, or it was created a moment ago: a hub whose beat is late
    // keeps its group for the grace period.
    assert.deepEqual(await removeDeadHubGroups(r.redis, events.keys), []);
    assert.deepEqual(await groups(), ["analytics", "hub:gone", "hub:gone-quiet", "hub:live"]);
    const removed = await removeDeadHubGroups(r.redis, events.keys, {
      graceMs: 0,
      now: Date.now() + 1,
    });
    assert.deepEqual(removed.sort(), ["hub:gone", "hub:gone-quiet"]);
    assert.deepEqual(await groups(), ["analytics", "hub:live"]);
  });
});

Deno.test("removeDeadHubGroups() copes with a missing stream", async () => {
  await withEnv(async ({ r, events }) => {
    assert.deepEqual(await removeDeadHubGroups(r.redis, events.keys), []);
  });
});

Deno.test("cleanupOperations() refuses bad options", async () => {
  await assert.rejects(cleanupOperations({} as CleanupDeps, { retentionDays: 0 }), RangeError);
  await assert.rejects(cleanupOperations({} as CleanupDeps, { batchSize: -1 }), RangeError);
  await assert.rejects(cleanupOperations({} as CleanupDeps, { consumerIdleMs: NaN }), RangeError);
});
