import assert from "node:assert/strict";
import { createTaskTestEnv } from "./_test_env.ts";
import { OperationCancelledError, TaskContext } from "./task_context.ts";
import { waitFor } from "../testing/wait.ts";
import type { Redis } from "ioredis";
import { createRedis } from "../redis/redis.ts";
import { EventPublisher, readOperationEvents } from "../events/event_publisher.ts";
import { LeaseLostError } from "../queue/job.ts";

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

/** A publisher whose publishes wait while `hold` is set: a writer slow to publish after its commit. */
class HeldPublisher extends EventPublisher {
  hold: Promise<void> | undefined;
  waiting = 0;
  override async publish(...args: Parameters<EventPublisher["publish"]>) {
    if (this.hold) {
      this.waiting++;
      await this.hold;
    }
    return await super.publish(...args);
  }
}

Deno.test("a progress write that committed before the terminal one but publishes after it is refused: the terminal event stays last and keeps its expiry", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const slow = new HeldPublisher(env.r.redis, env.keys, { retainSeconds: 3600 });
    const handler = new TaskContext({ db: env.t.db, events: slow, log: env.log }, op);
    await handler.updateStatus("processing", "Started");
    const release = Promise.withResolvers<void>();
    slow.hold = release.promise;
    handler.updateProgress(40, "batch 4");
    const progress = handler.flush();
    await waitFor(
      "the progress write to commit",
      async () => (await env.row(op.id)).progress === 40,
      {
        timeoutMs: 3000,
      },
    );
    await waitFor("its publish to wait", () => slow.waiting === 1, { timeoutMs: 3000 });
    // Meanwhile reconcile fails the overdue operation and publishes that at once.
    const reconcile = new TaskContext(
      {
        db: env.t.db,
        events: new EventPublisher(env.r.redis, env.keys, { retainSeconds: 3600 }),
        log: env.log,
      },
      await env.row(op.id),
    );
    assert.equal(await reconcile.fail("ran too long"), true);
    release.resolve();
    await progress;
    const events = await env.eventsOf(op.id);
    assert.deepEqual(events.map((e) => e.type), ["OPERATION_PROGRESS", "OPERATION_FAILED"]);
    for (const key of [env.events.keys.stream(op.id), env.events.keys.seq(op.id)]) {
      const ttl = await env.r.redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= 3600, `${key} keeps its expiry, got ${ttl}`);
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("a context whose job lost its lease writes nothing, and a run that a newer start took over is fenced", async () => {
  const env = await createTaskTestEnv();
  try {
    const op = await env.seedOperation();
    const deps = { db: env.t.db, events: env.events, log: env.log };
    const lease = new AbortController();
    const lost = new TaskContext(deps, op, { signal: lease.signal });
    assert.equal(await lost.updateStatus("processing", "Started", 1), true);
    lease.abort(new LeaseLostError(op.id, "taken"));
    assert.equal(await lost.complete({ by: "lost" }), false, "the lease is lost");
    assert.equal((await env.row(op.id)).status, "processing");

    // Its signal has not fired (it renews rarely), but the job was taken over and started again.
    const stalled = new TaskContext(deps, await env.row(op.id));
    assert.equal(await stalled.updateStatus("processing", "Started", 1), true);
    const owner = new TaskContext(deps, await env.row(op.id));
    assert.equal(await owner.updateStatus("processing", "Attempt 2 of 3", 2), true);
    stalled.updateProgress(99, "stalled");
    await stalled.flush();
    assert.equal(await stalled.complete({ by: "stalled" }), false);
    assert.equal(await stalled.fail("stalled"), false);
    const during = await env.row(op.id);
    assert.deepEqual([during.status, during.message], ["processing", "Attempt 2 of 3"]);
    assert.equal(await owner.complete({ by: "owner" }), true);
    const row = await env.row(op.id);
    assert.deepEqual([row.status, row.metadata.by], ["completed", "owner"]);
    assert.equal((await env.eventsOf(op.id)).at(-1)!.type, "OPERATION_COMPLETED");
  } finally {
    await env.cleanup();
  }
});

Deno.test("a process that dies right after publishing leaves an id floor behind: after a Redis flush the next id is new, and a resuming client gets the event", async () => {
  const env = await createTaskTestEnv();
  // The dying process's own connection: the publish script runs, then the process is gone.
  const conn = createRedis(env.r.target, { name: "test:dying" });
  let dead = false;
  const dying = new Proxy(conn, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      // The publish script (the only script this connection runs), sent as EVAL or EVALSHA.
      if ((prop === "eval" || prop === "evalsha") && typeof v === "function") {
        return async (...args: unknown[]) => {
          const r = await v.apply(target, args);
          if (dead) throw new Error("the process died here");
          return r;
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  try {
    const op = await env.seedOperation();
    const first = new TaskContext(
      { db: env.t.db, events: new EventPublisher(dying as Redis, env.keys), log: env.log },
      op,
    );
    await first.updateStatus("processing", "Started");
    dead = true;
    first.updateProgress(10, "batch 1");
    await first.flush();
    const { events: before } = await readOperationEvents(env.r.redis, {
      keys: env.events.keys,
      operationId: op.id,
    });
    assert.deepEqual(before.map((e) => e.event_id), [1, 2], "event 2 went out before the death");
    // Redis restarts empty (this operation's keys: the shared server serves other tests).
    await env.r.redis.del(env.events.keys.stream(op.id), env.events.keys.seq(op.id));
    const next = new TaskContext(deps(env), await env.row(op.id));
    next.updateProgress(20, "batch 2");
    await next.flush();
    const resumed = await readOperationEvents(env.r.redis, {
      keys: env.events.keys,
      operationId: op.id,
      since: 2,
    });
    assert.equal(resumed.complete, true);
    assert.deepEqual(resumed.events.map((e) => [e.event_id, e.message]), [[3, "batch 2"]]);
  } finally {
    conn.disconnect();
    await env.cleanup();
  }
});

function deps(env: Awaited<ReturnType<typeof createTaskTestEnv>>) {
  return { db: env.t.db, events: env.events, log: env.log };
}
