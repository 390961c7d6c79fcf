/**
 * Cleanup end to end: the scheduler's firing enqueues `maintenance.cleanup_operations`, a worker
 * runs it against what a running system holds, and it removes what it should and nothing else:
 * an active operation's stream, a live API process's hub group and the live worker's consumers
 * survive.
 */
import assert from "node:assert/strict";
import type { OperationRow } from "@semantik/shared";
import { publishNext, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { type CronRegistrar, startScheduler } from "@semantik/scheduler";
import { type HubEvent, OperationHub } from "../api/ws/operation_hub.ts";
import { createApiTestEnv } from "./helpers/api_env.ts";

const noCron: CronRegistrar = (_name, _schedule, options) =>
  new Promise((resolve) => options.signal?.addEventListener("abort", () => resolve()));

Deno.test("cleanup removes old operations and gone processes' leftovers, and keeps what is live", async () => {
  const env = await createApiTestEnv();
  const { rt } = env;
  const hub = new OperationHub({
    redis: rt.redis,
    openReader: () => rt.redisFactory("hub", true),
    keys: rt.events.keys,
    log: rt.log,
  }, { blockMs: 200 });
  try {
    const worker = await startWorker(rt, { overrides: { queueOptions: { blockMs: 200 } } });
    const scheduler = startScheduler(rt, { cron: noCron });
    await hub.start();
    const { id: userId } = await env.user();
    const db = rt.db;
    const redis = rt.redis;
    const keys = rt.events.keys;

    const collectionId = crypto.randomUUID();
    await db.query(
      `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
         chunk_overlap, vector_store_name) values ($1, $2, 'c', 'm', 4, 100, 10, 'v')`,
      [collectionId, userId],
    );
    const op = async (status: string, age: string) => {
      const [row] = await db.query<OperationRow>(
        `insert into operations (id, collection_id, owner_id, type, status, created_at, updated_at,
           started_at, completed_at)
         values ($1, $2, $3, 'index', $4, now() - $5::interval, now() - $5::interval,
                 now() - $5::interval,
                 case when $4 in ('completed', 'failed', 'cancelled') then now() - $5::interval end)
         returning *`,
        [crypto.randomUUID(), collectionId, userId, status, age],
      );
      await publishNext(rt.events, row!);
      return row!;
    };
    const oldDone = await op("completed", "45 days");
    const oldFailed = await op("failed", "31 days");
    const recentDone = await op("completed", "29 days");
    const active = await op("processing", "60 days");

    // A hub of an API process that is gone: its group, no heartbeat.
    const goneGroup = `hub:${crypto.randomUUID()}`;
    const lastPartition = keys.global(keys.partitions - 1);
    await redis.xgroup("CREATE", lastPartition, goneGroup, "0", "MKSTREAM");
    // A dead letter from long ago.
    const dead = rt.queues.queue("default").keys.dead;
    await redis.xadd(dead, `${Date.now() - 40 * 86_400_000}-0`, "id", "old", "err", "x", "a", "1");

    const fire = await scheduler.fire("cleanup_operations");
    assert.equal(fire.created, true);
    await waitFor(
      "the cleanup job to run",
      async () => (await rt.queues.getJobState(fire.jobId)) === null,
    );

    const exists = async (id: string) =>
      (await db.query("select 1 from operations where id = $1", [id])).length === 1;
    for (const o of [oldDone, oldFailed]) {
      assert.equal(await exists(o.id), false);
      assert.equal(await redis.exists(keys.stream(o.id), keys.seq(o.id)), 0);
    }
    for (const o of [recentDone, active]) {
      assert.equal(await exists(o.id), true);
      assert.equal(await redis.exists(keys.stream(o.id), keys.seq(o.id)), 2);
    }
    assert.equal(await redis.xlen(dead), 0);

    for (let p = 0; p < keys.partitions; p++) {
      const groups = ((await redis.call("XINFO", ["GROUPS", keys.global(p)])) as string[][])
        .map((g) => g[1]);
      assert.deepEqual(groups, [hub.group], `partition ${p}`);
    }
    for (const queue of ["default", "embed"]) {
      const stream = rt.queues.queue(queue).keys.stream;
      const consumers =
        ((await redis.call("XINFO", ["CONSUMERS", stream, "workers"])) as string[][])
          .map((c) => c[1]);
      assert.ok(consumers.includes(worker.consumer), `${queue}: ${consumers}`);
    }
    // The live hub still delivers.
    const got = Promise.withResolvers<HubEvent>();
    const unsubscribe = await hub.subscribeOperation(active.id, got.resolve);
    await publishNext(rt.events, active);
    assert.equal((await got.promise).event.operation_id, active.id);
    unsubscribe();
  } finally {
    await hub.close();
    await env.cleanup();
  }
});
