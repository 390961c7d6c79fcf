import assert from "node:assert/strict";
import { createTaskTestEnv, type TaskTestEnv } from "../shared/tasks/_test_env.ts";
import { operationTaskHandler } from "../worker/operation_task.ts";
import { processSourceTask } from "../shared/tasks/definitions.ts";
import { cancelOperation } from "../api/operations/operation_controls.ts";
import { CancelListener } from "../shared/tasks/cancel_listener.ts";
import type { OperationWork } from "../worker/operation_task.ts";
import { WorkerPool } from "../shared/queue/_test_helpers.ts";
import { WAIT_MS, waitFor } from "../shared/testing/wait.ts";
import { createRedis } from "../shared/redis/redis.ts";
import type { QueueWorker } from "../shared/queue/queue_worker.ts";
import { TaskContext } from "../shared/tasks/task_context.ts";
import { RetryLaterError } from "../shared/errors.ts";

async function withWorker(
  env: TaskTestEnv,
  work: OperationWork,
  fn: (worker: QueueWorker) => Promise<void>,
  cancelPollMs = 100,
  progressIntervalMs?: number,
): Promise<void> {
  const pool = new WorkerPool(env.r);
  const handler = operationTaskHandler(processSourceTask, {
    work,
    deps: {
      db: env.t.db,
      events: env.events,
      log: env.log,
    },
    cancelPollMs,
    progressIntervalMs,
  });
  const worker = await pool.start([handler], { concurrency: 2 });
  const cancels = new CancelListener(
    createRedis(env.r.url),
    env.events.keys.cancelChannel,
    (id) => worker.abortJob(id, "cancelled"),
    env.log,
  );
  await cancels.start();
  try {
    await fn(worker);
  } finally {
    await cancels.close();
    await pool.closeAll();
  }
}

const enqueue = (env: TaskTestEnv, id: string) =>
  env.queues.enqueue(processSourceTask, { operation_id: id }, {
    jobId: id,
    backoff: { type: "fixed", delayMs: 50 },
  });

Deno.test("a task failing on its first attempt and succeeding on its second ends completed, never failed", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    await withWorker(env, (ctx, _op, job) => {
      if (job.attempt === 1) throw new Error("flaky network");
      ctx.updateProgress(50, "half");
      return Promise.resolve({ documents_total: 1 });
    }, async () => {
      await enqueue(env, op.id);
      await waitFor("completion", async () => (await env.row(op.id)).status === "completed");
    });
    const row = await env.row(op.id);
    assert.equal(row.attempts, 2);
    assert.equal(row.error_message, null);
    assert.deepEqual(row.metadata, { documents_total: 1 });
    const events = await env.eventsOf(op.id);
    assert.ok(!events.some((e) => e.type === "OPERATION_FAILED" || e.status === "failed"));
    assert.ok(
      events.some((e) => /Attempt 1 of 3 failed \(flaky network\); retrying/.test(e.message)),
    );
    assert.equal(events.at(-1)!.type, "OPERATION_COMPLETED");
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
  } finally {
    await env.cleanup();
  }
});

Deno.test("a task that always throws ends failed with its message after the last attempt, and dead", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    let runs = 0;
    await withWorker(env, () => {
      runs++;
      throw new Error("corrupt index");
    }, async () => {
      await enqueue(env, op.id);
      await waitFor("failure", async () => (await env.row(op.id)).status === "failed");
    });
    assert.equal(runs, 3);
    const row = await env.row(op.id);
    assert.equal(row.error_message, "corrupt index");
    const dead = await env.queues.listDeadLetters();
    assert.deepEqual(dead.map((d) => [d.id, d.error]), [[op.id, "corrupt index"]]);
    const events = await env.eventsOf(op.id);
    assert.equal(events.filter((e) => e.type === "OPERATION_FAILED").length, 1);
    assert.equal(events.at(-1)!.type, "OPERATION_FAILED");
  } finally {
    await env.cleanup();
  }
});

Deno.test("cancelling reaches a running handler before its next batch and ends cancelled", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    let batches = 0;
    let abortedAt = -1;
    const atThird = Promise.withResolvers<void>();
    await withWorker(env, async (ctx) => {
      for (let i = 0; i < 10_000; i++) {
        await ctx.checkpoint();
        batches++;
        ctx.updateProgress(i / 100, `batch ${i}`);
        if (batches === 3) {
          // Wait here for the cancellation (bounded): only the message through Redis aborts the
          // signal, and the next checkpoint must then stop the handler.
          atThird.resolve();
          await abortedWithin(ctx.signal, WAIT_MS);
          abortedAt = ctx.signal.aborted ? batches : -1;
        }
      }
    }, async () => {
      await enqueue(env, op.id);
      await atThird.promise;
      const res = await cancelOperation(env.queuesRuntime(), {
        userId: op.owner_id,
        operationId: op.id,
      });
      assert.equal(res.status, "processing");
      await waitFor("cancelled", async () => (await env.row(op.id)).status === "cancelled");
    }, 3_600_000);
    assert.equal(abortedAt, 3, "the cancel message aborted the running handler's signal");
    assert.equal(batches, 3, "no batch ran after the cancellation reached the handler");
    assert.equal(await env.queues.getJobState(op.id), null);
    assert.equal((await env.eventsOf(op.id)).at(-1)!.type, "OPERATION_CANCELLED");
    await assert.rejects(
      cancelOperation(env.queuesRuntime(), { userId: op.owner_id, operationId: op.id }),
      /already finished/,
    );
  } finally {
    await env.cleanup();
  }
});

/** Resolves when `signal` aborts, or after `ms`. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

Deno.test("cancelling a pending operation means it never starts", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    await enqueue(env, op.id);
    const res = await cancelOperation(env.queuesRuntime(), {
      userId: op.owner_id,
      operationId: op.id,
    });
    assert.equal(res.status, "cancelled");
    assert.equal(await env.queues.getJobState(op.id), null);
    const marker = await env.seedOperation();
    const ran: string[] = [];
    await withWorker(env, (_ctx, o) => {
      ran.push(o.id);
      return Promise.resolve({});
    }, async () => {
      // Jobs run in order: once the marker enqueued after it has run, the cancelled one would have.
      await enqueue(env, marker.id);
      await waitFor("the marker", async () => (await env.row(marker.id)).status === "completed");
    });
    assert.deepEqual(ran, [marker.id]);
    assert.equal((await env.row(op.id)).status, "cancelled");
    assert.equal(
      (await env.eventsOf(op.id)).map((e) => e.type).join(),
      "OPERATION_CANCELLED",
    );
  } finally {
    await env.cleanup();
  }
});

Deno.test("a re-delivered job of a finished operation does nothing", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    await env.t.db.query("update operations set status = 'completed' where id = $1", [op.id]);
    let runs = 0;
    await withWorker(env, () => {
      runs++;
      return Promise.resolve({});
    }, async () => {
      await enqueue(env, op.id);
      await waitFor("the job to go", async () => (await env.queues.getJobState(op.id)) === null);
    });
    assert.equal(runs, 0);
    assert.equal((await env.eventsOf(op.id)).length, 0);
  } finally {
    await env.cleanup();
  }
});

Deno.test("a handler that outlives its lease cannot complete the operation while the new owner runs it", async () => {
  const env = await createTaskTestEnv();
  const pool = new WorkerPool(env.r);
  try {
    const op = await env.seedOperation();
    const oldMayFinish = Promise.withResolvers<void>();
    const newStarted = Promise.withResolvers<void>();
    const newMayFinish = Promise.withResolvers<void>();
    const handler = operationTaskHandler(processSourceTask, {
      work: async (ctx, _op, job) => {
        if (job.attempt === 1) {
          // Stalled past its lease (say, a long synchronous batch); it then finishes its work.
          await oldMayFinish.promise;
          return { by: "old owner" };
        }
        newStarted.resolve();
        await newMayFinish.promise;
        ctx.updateProgress(90, "new owner almost done");
        return { by: "new owner" };
      },
      deps: { db: env.t.db, events: env.events, log: env.log },
    });
    // The old owner renews rarely, so it does not notice the takeover before it finishes.
    const oldOwner = await pool.start([handler], {
      leaseMs: 60_000,
      heartbeatMs: 20_000,
      reclaimIntervalMs: 60_000,
    });
    await enqueue(env, op.id);
    await waitFor("the old owner to start", async () => (await env.row(op.id)).attempts === 1, {
      timeoutMs: 5000,
    });
    // A worker with the normal short lease takes the job over: attempt 2.
    await pool.start([handler]);
    await newStarted.promise;
    assert.equal((await env.row(op.id)).attempts, 2);
    oldMayFinish.resolve();
    await waitFor("the old owner's handler to return", () => oldOwner.runningCount === 0, {
      timeoutMs: 3000,
    });
    const during = await env.row(op.id);
    assert.equal(during.status, "processing", "the old owner's completion was fenced");
    newMayFinish.resolve();
    await waitFor("completion", async () => (await env.row(op.id)).status === "completed", {
      timeoutMs: 5000,
    });
    const row = await env.row(op.id);
    assert.equal(row.metadata.by, "new owner");
    const events = await env.eventsOf(op.id);
    assert.deepEqual(events.filter((e) => e.type === "OPERATION_COMPLETED").length, 1);
    assert.equal(events.at(-1)!.type, "OPERATION_COMPLETED");
    assert.equal(events.at(-1)!.metadata.by, "new owner");
  } finally {
    await pool.closeAll();
    await env.cleanup();
  }
});

Deno.test("an attempt that throws leaves no progress behind: its pending progress is not written over the retry message", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    let context: TaskContext | undefined;
    await withWorker(
      env,
      (ctx, _op, job) => {
        if (job.attempt > 1) return new Promise(() => {}); // not reached: the retry is an hour away
        context = ctx;
        ctx.updateProgress(10, "first batch");
        // Within the coalescing interval: written later, by the context's timer.
        ctx.updateProgress(20, "second batch");
        throw new Error("flaky network");
      },
      async () => {
        await env.queues.enqueue(processSourceTask, { operation_id: op.id }, {
          jobId: op.id,
          backoff: { type: "fixed", delayMs: 3_600_000 },
        });
        await waitFor(
          "the retry message",
          async () => /retrying/.test((await env.row(op.id)).message),
          {
            timeoutMs: 5000,
          },
        );
      },
      100,
      60_000,
    );
    // The pending write would go out now: nothing is written, nothing published.
    const before = await env.eventsOf(op.id);
    await context!.flush();
    const row = await env.row(op.id);
    assert.match(row.message, /Attempt 1 of 3 failed \(flaky network\); retrying in \d+ s/);
    assert.notEqual(row.progress, 20);
    assert.deepEqual(await env.eventsOf(op.id), before);
    assert.equal(context!.finished, true);
  } finally {
    await env.cleanup();
  }
});

Deno.test("cancelling a processing operation whose job waits in the delayed set (postponed for an hour) cancels it at once", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    let runs = 0;
    await withWorker(env, async (ctx) => {
      runs++;
      ctx.updateProgress(30, "waiting for the GPU");
      await ctx.flush();
      throw new RetryLaterError("GPU memory short", 3_600_000);
    }, async (worker) => {
      const postponed = worker.events.once("postponed");
      await enqueue(env, op.id);
      await postponed;
      assert.equal(await env.queues.getJobState(op.id), "delayed");
      assert.equal((await env.row(op.id)).status, "processing");
      const res = await cancelOperation(env.queuesRuntime(), {
        userId: op.owner_id,
        operationId: op.id,
      });
      assert.equal(res.status, "cancelled", "cancelled by the call itself");
    });
    assert.equal(runs, 1);
    assert.equal((await env.row(op.id)).status, "cancelled");
    assert.equal(await env.queues.getJobState(op.id), null, "the delayed job is gone");
    const events = await env.eventsOf(op.id);
    assert.equal(events.at(-1)!.type, "OPERATION_CANCELLED");
    assert.equal(events.at(-1)!.message, "Cancelled");
  } finally {
    await env.cleanup();
  }
});

Deno.test("a job enqueued again from attempt 1 (reconcile after a Redis loss) runs an operation whose earlier run reached attempt 3", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    // Its earlier run: three attempts, then Redis lost the job; the row still says processing.
    const earlier = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op);
    await earlier.updateStatus("processing", "Attempt 3 of 3", 3);
    await withWorker(env, (ctx) => {
      ctx.updateProgress(50, "half");
      return Promise.resolve({ documents_total: 2 });
    }, async () => {
      await enqueue(env, op.id);
      await waitFor("completion", async () => (await env.row(op.id)).status === "completed", {
        timeoutMs: 5000,
      });
    });
    const row = await env.row(op.id);
    assert.deepEqual(row.metadata, { documents_total: 2 });
    assert.equal(row.run_epoch, 2, "each start took a new epoch");
    // The earlier run's context is fenced off now.
    assert.equal(await earlier.fail("late"), false);
  } finally {
    await env.cleanup();
  }
});
