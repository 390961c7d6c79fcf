import assert from "node:assert/strict";
import {
  createTestDb,
  createTestRedis,
  type TestDb,
  type TestRedis,
  waitFor,
} from "@semantik/shared/testing";
import {
  dispatchOperation,
  EventPublisher,
  getLogger,
  KeySpace,
  processSourceTask,
  QueueClient,
  QueueWorker,
  readOperationEvents,
  syncCollectionTask,
  taskHandler,
} from "@semantik/shared";
import { type ReconcileDeps, reconcileOperations } from "./reconcile_operations.ts";
import { deadLetterJob, Seed } from "./_test_seed.ts";

const log = getLogger("test");
const OLD = "now() - interval '5 minutes'";

interface Env {
  t: TestDb;
  r: TestRedis;
  seed: Seed;
  queues: QueueClient;
  deps: ReconcileDeps;
}

async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const queues = new QueueClient(r.redis, { prefix: r.prefix });
    const events = new EventPublisher(r.redis, new KeySpace(r.prefix));
    await fn({ t, r, seed: new Seed(t.db), queues, deps: { db: t.db, queues, events, log } });
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
}

Deno.test("reconcile enqueues active operations that no job holds, and leaves the rest", async () => {
  await withEnv(async ({ seed, queues, deps }) => {
    const lostPending = await seed.operation({ status: "pending", at: OLD });
    const lostProcessing = await seed.operation({ type: "sync", status: "processing", at: OLD });
    const fresh = await seed.operation({ status: "pending" }); // within the grace period
    const held = await seed.operation({ type: "delete", status: "processing", at: OLD });
    await dispatchOperation(queues, held);
    const done = await seed.operation({ status: "completed", at: OLD });

    const res = await reconcileOperations(deps);
    assert.equal(res.checked, 3);
    assert.equal(res.requeued, 2);
    assert.deepEqual(res.operation_ids.requeued.sort(), [lostPending.id, lostProcessing.id].sort());
    // Job id = operation id, on the task of the operation's type.
    assert.equal((await queues.getJob(lostPending.id))?.name, "indexing.process_source");
    assert.equal((await queues.getJob(lostProcessing.id))?.name, "sync.sync_collection");
    for (const op of [fresh, done]) assert.equal(await queues.getJobState(op.id), null);
    assert.equal((await queues.depth()).default!.waiting, 3);
    // The rows are left as they were: the worker that runs the job reports.
    assert.equal((await seed.row(lostProcessing.id))!.status, "processing");

    const again = await reconcileOperations(deps);
    assert.equal(again.requeued, 0);
    assert.equal((await queues.depth()).default!.waiting, 3);
  });
});

Deno.test("two reconciles racing enqueue each lost operation once", async () => {
  await withEnv(async ({ seed, queues, deps }) => {
    const ops = [];
    for (let i = 0; i < 6; i++) ops.push(await seed.operation({ status: "pending", at: OLD }));
    const results = await Promise.all([reconcileOperations(deps), reconcileOperations(deps)]);
    assert.equal(results[0]!.requeued + results[1]!.requeued, 6);
    assert.equal((await queues.depth()).default!.waiting, 6);
  });
});

Deno.test("reconcile honours the grace period", async () => {
  await withEnv(async ({ seed, queues, deps }) => {
    const op = await seed.operation({ status: "pending", at: "now() - interval '10 seconds'" });
    assert.equal((await reconcileOperations(deps)).requeued, 0);
    assert.equal((await reconcileOperations(deps, { graceMs: 5000 })).requeued, 1);
    assert.equal(await queues.getJobState(op.id), "waiting");
  });
});

Deno.test("reconcile fails an operation whose job is dead with the dead letter's error", async () => {
  await withEnv(async ({ r, seed, queues, deps }) => {
    const coll = await seed.collection({ status: "processing" });
    const op = await seed.operation({
      type: "sync",
      status: "processing",
      at: OLD,
      collectionId: coll,
    });
    // A plain handler (no operation wrapper): the worker dies with the job, the row stays put.
    await deadLetterJob(r, queues, {
      task: syncCollectionTask,
      jobId: op.id,
      message: "source directory vanished",
    });
    await seed.db.query(`update operations set updated_at = ${OLD} where id = $1`, [op.id]);

    const res = await reconcileOperations(deps);
    assert.equal(res.failed_dead, 1);
    assert.equal(res.requeued, 0);
    const row = await seed.row(op.id);
    assert.equal(row!.status, "failed");
    assert.match(row!.error_message!, /source directory vanished/);
    assert.ok(row!.completed_at);
    const [c] = await seed.db.query<{ status: string; status_message: string }>(
      "select status, status_message from collections where id = $1",
      [coll],
    );
    assert.equal(c!.status, "error");
    const { events } = await readOperationEvents(r.redis, {
      keys: deps.events.keys,
      operationId: op.id,
    });
    assert.equal(events.at(-1)!.type, "OPERATION_FAILED");
    // The dead letter stays for the admin view.
    assert.equal(await queues.getJobState(op.id), "dead");
  });
});

Deno.test("reconcile cancels an operation with a cancel request and no job", async () => {
  await withEnv(async ({ seed, queues, deps }) => {
    const op = await seed.operation({ status: "processing", at: OLD, cancelRequested: true });
    const res = await reconcileOperations(deps);
    assert.equal(res.cancelled, 1);
    assert.equal((await seed.row(op.id))!.status, "cancelled");
    assert.equal(await queues.getJobState(op.id), null);
  });
});

Deno.test("reconcile fails an operation running past OPERATION_MAX_RUNTIME_MINUTES and stops its job", async () => {
  await withEnv(async ({ r, seed, queues, deps }) => {
    const op = await seed.operation({
      status: "processing",
      at: "now() - interval '2 minutes'",
      startedAt: "now() - interval '31 minutes'",
    });
    const recent = await seed.operation({
      status: "processing",
      startedAt: "now() - interval '29 minutes'",
    });
    let aborted: unknown;
    const started = Promise.withResolvers<void>();
    const worker = new QueueWorker("default", [
      taskHandler(processSourceTask, async (_p, job) => {
        started.resolve();
        await new Promise((resolve) => job.signal.addEventListener("abort", resolve));
        aborted = job.signal.reason;
        throw job.signal.reason;
      }),
    ], {
      redisUrl: r.target,
      prefix: r.prefix,
      consumer: "w",
      blockMs: 200,
      leaseMs: 3000,
      heartbeatMs: 100,
    });
    const running = worker.run();
    try {
      await dispatchOperation(queues, op);
      await started.promise;

      const res = await reconcileOperations(deps, { maxRuntimeMinutes: 30 });
      assert.equal(res.timed_out, 1);
      assert.deepEqual(res.operation_ids.timed_out, [op.id]);
      const row = await seed.row(op.id);
      assert.equal(row!.status, "failed");
      assert.equal(
        row!.error_message,
        "Operation ran longer than OPERATION_MAX_RUNTIME_MINUTES (30 minutes) and was stopped",
      );
      assert.equal((await seed.row(recent.id))!.status, "processing");
      // The job is gone, and its worker aborted the handler.
      await waitFor("the handler to be aborted", () => aborted !== undefined);
      assert.equal(await queues.getJobState(op.id), null);
      const events = await readOperationEvents(r.redis, {
        keys: deps.events.keys,
        operationId: op.id,
      });
      assert.equal(events.events.at(-1)!.type, "OPERATION_FAILED");
    } finally {
      await worker.close();
      await running;
    }
  });
});

Deno.test("reconcileOperations() refuses bad options", async () => {
  const deps = {} as ReconcileDeps;
  await assert.rejects(reconcileOperations(deps, { graceMs: -1 }), RangeError);
  await assert.rejects(reconcileOperations(deps, { maxRuntimeMinutes: 0 }), RangeError);
  await assert.rejects(reconcileOperations(deps, { limit: 1.5 }), RangeError);
});
