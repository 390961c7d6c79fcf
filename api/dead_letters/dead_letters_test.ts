import assert from "node:assert/strict";
import { processSourceTask, TaskContext, taskHandler } from "@semantik/shared";
import { createTaskTestEnv, WorkerPool } from "@semantik/shared/testing";
import { waitFor } from "@semantik/shared/testing";
import { listDeadLetters, requeueDeadLetter } from "./dead_letters.ts";

Deno.test("requeueDeadLetter() reopens the failed operation and publishes it as an event", async () => {
  const env = await createTaskTestEnv();
  const pool = new WorkerPool(env.r);
  try {
    const op = await env.seedOperation("index");
    // The operation fails for good with its job, which goes to the dead letters.
    await env.queues.enqueue(processSourceTask, { operation_id: op.id }, {
      jobId: op.id,
      maxAttempts: 1,
    });
    await pool.start([
      taskHandler(processSourceTask, () => {
        throw new Error("the disk is on fire");
      }, {
        onDead: async () => {
          await new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op)
            .fail(new Error("the disk is on fire"));
        },
      }),
    ]);
    const deps = { db: env.t.db, queues: env.queues, events: env.events, log: env.log };
    await waitFor(
      "the job in the dead letters and its operation failed",
      async () =>
        (await listDeadLetters(deps, { userId: op.owner_id, limit: 10 })).length === 1 &&
        (await env.row(op.id)).status === "failed",
    );
    await pool.closeAll();
    const before = await env.eventsOf(op.id);
    assert.equal(before.at(-1)?.status, "failed");

    await assert.rejects(
      requeueDeadLetter(deps, { userId: crypto.randomUUID(), id: op.id }),
      /belongs to another user/,
    );
    await requeueDeadLetter(deps, { userId: op.owner_id, id: op.id });

    const row = await env.row(op.id);
    assert.equal(row.status, "pending");
    assert.equal(row.message, "Requeued");
    assert.equal(row.error_message, null);
    const after = await env.eventsOf(op.id);
    assert.equal(after.length, before.length + 1, JSON.stringify(after.map((e) => e.status)));
    const last = after.at(-1)!;
    assert.equal(last.type, "OPERATION_PROGRESS");
    assert.equal(last.status, "pending");
    assert.equal(last.message, "Requeued");
    assert.equal(last.error_message, null);
    assert.ok(last.event_id > before.at(-1)!.event_id);
    // The job is back on its queue, and the dead letters no longer hold it.
    assert.equal((await env.queues.getJob(op.id))?.state, "waiting");
    assert.deepEqual(await listDeadLetters(deps, { userId: op.owner_id, limit: 10 }), []);
  } finally {
    await pool.closeAll();
    await env.cleanup();
  }
});
