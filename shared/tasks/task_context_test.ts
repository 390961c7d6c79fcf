import assert from "node:assert/strict";
import { createTaskTestEnv } from "./_test_env.ts";
import { OperationCancelledError, TaskContext } from "./task_context.ts";
import { waitFor } from "../testing/wait.ts";

Deno.test("updateProgress() coalesces 10,000 updates into a handful of events; the last value arrives", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const ctx = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op);
    await ctx.updateStatus("processing", "Started");
    for (let i = 1; i <= 10_000; i++) ctx.updateProgress(i / 100, `step ${i}`);
    // The coalesced write goes out on the timer, without any further call.
    await waitFor("the last progress", async () => (await env.row(op.id)).message === "step 10000");
    const row = await env.row(op.id);
    assert.equal(row.progress, 100);
    const events = await env.eventsOf(op.id);
    const progress = events.filter((e) =>
      e.type === "OPERATION_PROGRESS" && e.message.startsWith("step")
    );
    assert.ok(progress.length >= 1 && progress.length <= 5, `${progress.length} progress events`);
    assert.equal(progress.at(-1)!.message, "step 10000");
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
  } finally {
    await env.cleanup();
  }
});

Deno.test("complete() flushes pending progress first and publishes the terminal event last", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const ctx = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op, {
      progressIntervalMs: 60_000,
    });
    await ctx.updateStatus("processing");
    ctx.updateProgress(10, "first");
    ctx.updateProgress(55, "second");
    await ctx.flush();
    ctx.updateProgress(80, "dropped by completion");
    await ctx.complete({ documents_total: 3 });
    const events = await env.eventsOf(op.id);
    assert.deepEqual(events.map((e) => [e.type, e.progress]), [
      ["OPERATION_PROGRESS", 0],
      ["OPERATION_PROGRESS", 55],
      ["OPERATION_COMPLETED", 100],
    ]);
    assert.deepEqual(events.at(-1)!.metadata, { documents_total: 3 });
    const [c] = await env.t.db.query<{ status: string }>(
      "select status from collections where id = $1",
      [
        op.collection_id,
      ],
    );
    assert.equal(c!.status, "ready");
    // A finished context writes nothing more.
    ctx.updateProgress(5, "late");
    assert.equal(await ctx.fail("late failure"), false);
    assert.equal((await env.row(op.id)).status, "completed");
  } finally {
    await env.cleanup();
  }
});

Deno.test("a terminal state written elsewhere wins: the context publishes nothing over it", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const ctx = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op);
    await ctx.updateStatus("processing");
    await env.t.db.query("update operations set status = 'cancelled' where id = $1", [op.id]);
    assert.equal(await ctx.complete({}), false);
    assert.equal((await env.row(op.id)).status, "cancelled");
    assert.equal((await env.eventsOf(op.id)).length, 1);
  } finally {
    await env.cleanup();
  }
});

Deno.test("checkpoint() throws OperationCancelledError once cancel is requested in Postgres", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const ctx = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op, {
      cancelPollMs: 0,
    });
    await ctx.checkpoint();
    await env.t.db.query("update operations set cancel_requested_at = now() where id = $1", [
      op.id,
    ]);
    await assert.rejects(ctx.checkpoint(), OperationCancelledError);
    const ac = new AbortController();
    const aborted = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op, {
      signal: ac.signal,
    });
    ac.abort(new Error("lease lost"));
    await assert.rejects(aborted.checkpoint(), /lease lost/);
  } finally {
    await env.cleanup();
  }
});

Deno.test("fail() records the error on the operation and the collection", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const ctx = new TaskContext({ db: env.t.db, events: env.events, log: env.log }, op);
    await ctx.updateStatus("processing");
    await ctx.fail(new Error("disk on fire"));
    const row = await env.row(op.id);
    assert.equal(row.status, "failed");
    assert.equal(row.error_message, "disk on fire");
    assert.ok(row.completed_at);
    const [c] = await env.t.db.query<{ status: string; status_message: string }>(
      "select status, status_message from collections where id = $1",
      [op.collection_id],
    );
    assert.deepEqual(c, { status: "error", status_message: "disk on fire" });
    assert.equal((await env.eventsOf(op.id)).at(-1)!.type, "OPERATION_FAILED");
  } finally {
    await env.cleanup();
  }
});
