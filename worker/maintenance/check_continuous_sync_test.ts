import assert from "node:assert/strict";
import { withTestDb, withTestRedis } from "@semantik/shared/testing";
import { getLogger, type OperationRow, QueueClient } from "@semantik/shared";
import { checkContinuousSync } from "./check_continuous_sync.ts";
import { Seed } from "./_test_seed.ts";

const log = getLogger("test");

interface SyncState {
  next_sync_at: Date | null;
  due: boolean;
  minutes_ahead: number | null;
}

async function syncState(seed: Seed, id: string): Promise<SyncState> {
  const [r] = await seed.db.query<SyncState>(
    `select next_sync_at, next_sync_at <= now() as due,
            extract(epoch from next_sync_at - now()) / 60 as minutes_ahead
       from collections where id = $1`,
    [id],
  );
  return r!;
}

const opsOf = (seed: Seed, collectionId: string) =>
  seed.db.query<OperationRow>(
    "select * from operations where collection_id = $1 order by created_at",
    [collectionId],
  );

for (const driver of ["postgres", "pglite"] as const) {
  Deno.test(`checkContinuousSync() starts one sync per due continuous collection and moves it on (${driver})`, async () => {
    await withTestDb(driver, async (t) => {
      await withTestRedis(async (r) => {
        const queues = new QueueClient(r.redis, { prefix: r.prefix });
        const seed = new Seed(t.db);
        const due = await seed.collection({
          syncMode: "continuous",
          intervalMinutes: 15,
          nextSyncAt: "now() - interval '1 minute'",
          sourcePath: "/docs/a",
        });
        const notYet = await seed.collection({
          syncMode: "continuous",
          nextSyncAt: "now() + interval '10 minutes'",
          sourcePath: "/docs/b",
        });
        const oneTime = await seed.collection({
          nextSyncAt: "now() - interval '1 hour'",
          sourcePath: "/docs/c",
        });
        const busy = await seed.collection({
          syncMode: "continuous",
          nextSyncAt: "now() - interval '2 minutes'",
          sourcePath: "/docs/d",
        });
        const running = await seed.operation({ collectionId: busy, status: "processing" });
        const noSource = await seed.collection({
          syncMode: "continuous",
          intervalMinutes: 30,
          nextSyncAt: "now() - interval '3 minutes'",
        });
        const deleting = await seed.collection({
          syncMode: "continuous",
          nextSyncAt: "now() - interval '3 minutes'",
          status: "deleting",
          sourcePath: "/docs/e",
        });

        const tick = "2030-01-01T00:05:00.000Z";
        const res = await checkContinuousSync({ db: t.db, queues, log }, { tick });
        assert.deepEqual({ ...res, operation_ids: undefined }, {
          due: 3,
          started: 1,
          busy: 1,
          no_source: 1,
          paused: 0,
          paused_ids: [],
          dispatch_failed: 0,
          operation_ids: undefined,
        });

        // The due collection: one pending sync, its job enqueued under the operation's id.
        const [op, ...more] = await opsOf(seed, due);
        assert.equal(more.length, 0);
        assert.equal(op!.type, "sync");
        assert.equal(op!.status, "pending");
        assert.equal(op!.owner_id, seed.userId);
        assert.deepEqual(op!.config, { trigger: "schedule", tick });
        assert.deepEqual(res.operation_ids, [op!.id]);
        assert.equal(await queues.getJobState(op!.id), "waiting");
        assert.equal((await queues.getJob(op!.id))?.name, "sync.sync_collection");
        const s = await syncState(seed, due);
        assert.equal(s.due, false);
        assert.ok(Math.abs(s.minutes_ahead! - 15) < 1, `next sync in ${s.minutes_ahead} min`);

        // Busy: no second operation, and still due.
        assert.deepEqual((await opsOf(seed, busy)).map((o) => o.id), [running.id]);
        assert.equal((await syncState(seed, busy)).due, true);
        // No source: nothing started, moved on.
        assert.equal((await opsOf(seed, noSource)).length, 0);
        assert.ok(Math.abs((await syncState(seed, noSource)).minutes_ahead! - 30) < 1);
        // Not due, one-time and deleting collections are untouched.
        for (const id of [notYet, oneTime, deleting]) {
          assert.equal((await opsOf(seed, id)).length, 0);
        }
        assert.equal((await syncState(seed, oneTime)).due, true);
        assert.equal((await syncState(seed, deleting)).due, true);

        // A second check finds nothing new to start; once the busy one is free, it starts.
        const again = await checkContinuousSync({ db: t.db, queues, log });
        assert.equal(again.started, 0);
        assert.equal(again.busy, 1);
        await t.db.query("update operations set status = 'completed' where id = $1", [running.id]);
        const freed = await checkContinuousSync({ db: t.db, queues, log });
        assert.equal(freed.started, 1);
        assert.equal((await opsOf(seed, busy)).at(-1)!.type, "sync");
        assert.equal((await syncState(seed, busy)).due, false);
      });
    });
  });
}

Deno.test("checkContinuousSync() run twice at once starts one sync per collection", async () => {
  await withTestDb("postgres", async (t) => {
    await withTestRedis(async (r) => {
      const queues = new QueueClient(r.redis, { prefix: r.prefix });
      const seed = new Seed(t.db);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          await seed.collection({
            syncMode: "continuous",
            nextSyncAt: "now() - interval '1 minute'",
            sourcePath: `/docs/${i}`,
          }),
        );
      }
      const [a, b] = await Promise.all([
        checkContinuousSync({ db: t.db, queues, log }),
        checkContinuousSync({ db: t.db, queues, log }),
      ]);
      assert.equal(a!.started + b!.started, 5);
      for (const id of ids) assert.equal((await opsOf(seed, id)).length, 1);
      assert.equal((await queues.depth()).default!.waiting, 5);
    });
  });
});

Deno.test("checkContinuousSync() keeps the operation when its job cannot be enqueued (reconcile enqueues it)", async () => {
  await withTestDb("postgres", async (t) => {
    const seed = new Seed(t.db);
    const id = await seed.collection({
      syncMode: "continuous",
      nextSyncAt: "now() - interval '1 minute'",
      sourcePath: "/docs/a",
    });
    const down = {
      enqueue: () => Promise.reject(new Error("connect ECONNREFUSED")),
    } as unknown as QueueClient;
    const res = await checkContinuousSync({ db: t.db, queues: down, log });
    assert.equal(res.started, 1);
    assert.equal(res.dispatch_failed, 1);
    const [op] = await opsOf(seed, id);
    assert.equal(op!.status, "pending");
    assert.equal((await syncState(seed, id)).due, false);
  });
});

Deno.test("checkContinuousSync() refuses a bad limit", async () => {
  await assert.rejects(
    checkContinuousSync({ db: {} as never, queues: {} as never, log }, { limit: 0 }),
    RangeError,
  );
});

Deno.test("checkContinuousSync() skips a paused collection and leaves it due; resumed, it syncs", async () => {
  await withTestDb("postgres", async (t) => {
    await withTestRedis(async (r) => {
      const queues = new QueueClient(r.redis, { prefix: r.prefix });
      const seed = new Seed(t.db);
      const paused = await seed.collection({
        syncMode: "continuous",
        nextSyncAt: "now() - interval '1 minute'",
        sourcePath: "/docs/p",
      });
      await t.db.query("update collections set sync_paused = true where id = $1", [paused]);
      const res = await checkContinuousSync({ db: t.db, queues, log });
      assert.deepEqual(
        [res.due, res.started, res.paused, res.paused_ids],
        [0, 0, 1, [paused]],
      );
      assert.equal((await opsOf(seed, paused)).length, 0);
      assert.equal((await syncState(seed, paused)).due, true);

      await t.db.query("update collections set sync_paused = false where id = $1", [paused]);
      const resumed = await checkContinuousSync({ db: t.db, queues, log });
      assert.deepEqual([resumed.started, resumed.paused], [1, 0]);
      assert.equal((await opsOf(seed, paused))[0]!.type, "sync");
    });
  });
});
