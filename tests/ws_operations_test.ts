/**
 * WebSockets end to end: a served app on port 0, real Redis and Postgres, real WebSocket clients,
 * and an operation run by a worker through the real operation wrapper (task context, events).
 */
import assert from "node:assert/strict";
import {
  createRuntime,
  dispatchOperation,
  type OperationRow,
  processSourceTask,
  type Runtime,
} from "@semantik/shared";
import { operationTaskHandler } from "../worker/operation_task.ts";
import { waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { closeAll, connect, createWsTestEnv, type WsClient, type WsTestEnv } from "./ws_env.ts";

const STEPS = 10;

/**
 * Starts a worker (a runtime of its own, as another process would have) whose
 * `indexing.process_source` work reports STEPS progress steps, holding after step `holdAt` until
 * `release()`.
 */
async function startTestWorker(env: WsTestEnv, holdAt = 0) {
  const gate = Promise.withResolvers<void>();
  const rt: Runtime = await createRuntime(env.rt.config, {
    role: `${env.role}_worker`,
    db: env.t.db,
    migrate: false,
  });
  await startWorker(rt, {
    registry: () => [
      operationTaskHandler(processSourceTask, {
        work: async (ctx) => {
          for (let i = 1; i <= STEPS; i++) {
            await ctx.checkpoint();
            ctx.updateProgress((100 * i) / STEPS, `step ${i} of ${STEPS}`, {
              documents_processed: i,
            });
            await ctx.flush();
            if (i === holdAt) await gate.promise;
          }
          return { documents_total: STEPS, documents_processed: STEPS };
        },
        deps: { db: rt.db, events: rt.events, log: rt.log },
      }),
    ],
  });
  return { rt, release: () => gate.resolve() };
}

const row = async (env: WsTestEnv, id: string) =>
  (await env.t.db.query<OperationRow>("select * from operations where id = $1", [id]))[0]!;

Deno.test("a client follows a real indexing operation to OPERATION_COMPLETED with event ids 1..n", async () => {
  const env = await createWsTestEnv({ indexing: true });
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const files = 12;
    for (let i = 0; i < files; i++) {
      await Deno.writeTextFile(
        `${env.docs}/note_${i}.md`,
        `# Note ${i}\n\n${"Operations stream their progress to every watcher. ".repeat(40 + i)}`,
      );
    }
    // Watching all of the user's operations from before the operation exists: everything live.
    const all = connect(`${env.wsUrl}/ws/operations`, `access_token.${alice.token}`);
    clients.push(all);
    await all.opened;
    const res = await fetch(`${env.server.url}/api/v2/collections`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "notes", source: { type: "directory", path: env.docs } }),
    });
    const created = await res.json();
    assert.equal(res.status, 201, JSON.stringify(created));
    const { operation } = created;
    assert.equal(operation.type, "index");
    // And one operation's socket, joining while it runs (or after: then all of it is replayed).
    const one = connect(
      `${env.wsUrl}/ws/operations/${operation.id}`,
      `access_token.${alice.token}`,
    );
    clients.push(one);
    assert.equal((await one.closed).code, 1000);
    const ids = one.frames.map((f) => f.event_id);
    assert.ok(ids.length >= 2, `frames: ${JSON.stringify(one.frames)}`);
    assert.deepEqual(ids, ids.map((_, i) => i + 1));
    const last = one.frames.at(-1);
    assert.equal(last.type, "OPERATION_COMPLETED");
    assert.deepEqual([last.status, last.progress], ["completed", 100]);
    assert.equal(last.operation_id, operation.id);
    assert.equal(last.operation_type, "index");
    assert.equal(last.metadata.documents_total, files);
    assert.equal(last.metadata.documents_processed, files);
    assert.ok(last.metadata.chunks_created >= files);
    assert.ok(!Number.isNaN(Date.parse(last.timestamp)));
    assert.deepEqual(Object.keys(last).sort(), [
      "collection_id",
      "error_message",
      "event_id",
      "message",
      "metadata",
      "operation_id",
      "operation_type",
      "progress",
      "status",
      "timestamp",
      "type",
    ]);
    // The user-wide socket saw the same events, live, and stays open. (Had the operation been
    // created before that socket's start, a snapshot of it comes first and covers its ids.)
    await waitFor(
      "the completion on /ws/operations",
      () => all.frames.some((f) => f.type === "OPERATION_COMPLETED"),
    );
    const snapshot = all.frames[0].type === "OPERATION_SNAPSHOT" ? all.frames[0].event_id : -1;
    assert.deepEqual(
      all.frames.filter((f) => f.type !== "OPERATION_SNAPSHOT").map((f) => f.event_id),
      ids.filter((id) => id > snapshot),
    );
    assert.equal(all.closeEvent, undefined);
    // The row records the id just after the event is published.
    await waitFor(
      "the row's event_seq",
      async () => (await row(env, operation.id)).event_seq === ids.length,
    );
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});

Deno.test("a client that disconnects midway and resumes with `since` gets every later event exactly once", async () => {
  const env = await createWsTestEnv();
  const worker = await startTestWorker(env, 4);
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const op = await env.newOp(alice.id);
    await dispatchOperation(env.rt.queues, op);
    const first = connect(`${env.wsUrl}/ws/operations/${op.id}?token=${alice.token}`);
    clients.push(first);
    // The work holds after step 4: event 5 is the last one until it is released.
    await first.waitForFrames(5);
    first.ws.close();
    await first.closed;
    const seen = first.frames.map((f) => f.event_id);
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    worker.release();
    // Some events go out while no client listens; the rest while the second one joins.
    await waitFor(
      "events published while away",
      async () => (await row(env, op.id)).event_seq >= 8,
    );
    const second = connect(
      `${env.wsUrl}/ws/operations/${op.id}?since=${seen.at(-1)}`,
      `access_token.${alice.token}`,
    );
    clients.push(second);
    const { code } = await second.closed;
    assert.equal(code, 1000);
    const resumed = second.frames.map((f) => f.event_id);
    assert.deepEqual(resumed, Array.from({ length: STEPS + 2 - 5 }, (_, i) => i + 6));
    assert.equal(second.frames.at(-1).type, "OPERATION_COMPLETED");
  } finally {
    worker.release();
    await closeAll(clients);
    await worker.rt.close();
    await env.cleanup();
  }
});

Deno.test("close codes 4001, 4003, 4004, 1008 and the subprotocol echo, with plain WebSocket clients", async (t) => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  const open = (path: string, protocols?: string | string[]) => {
    const c = connect(`${env.wsUrl}${path}`, protocols);
    clients.push(c);
    return c;
  };
  try {
    const alice = await env.user();
    const bob = await env.user();
    const op = await env.newOp(alice.id);
    await env.step(op, { status: "processing" });

    await t.step("the token subprotocol is selected and echoed exactly", async () => {
      const protocol = `access_token.${alice.token}`;
      const c = open(`/ws/operations/${op.id}`, ["json", protocol]);
      await c.opened;
      assert.equal(c.ws.protocol, protocol);
      await c.waitForFrames(1);
      assert.equal(c.frames[0].event_id, 1);
    });
    await t.step("?token= works without a subprotocol", async () => {
      const c = open(`/ws/operations?token=${alice.token}`);
      await c.opened;
      assert.equal(c.ws.protocol, "");
      await c.waitForFrames(1);
      assert.equal(c.frames[0].type, "OPERATION_SNAPSHOT");
    });
    const cases: [string, string, string | undefined, number][] = [
      ["no token", `/ws/operations/${op.id}`, undefined, 4001],
      ["a forged token", `/ws/operations/${op.id}`, `access_token.${alice.token}x`, 4001],
      ["an empty token", `/ws/operations`, "access_token.", 4001],
      ["a bad ?token=", `/ws/operations?token=nope`, undefined, 4001],
      ["another user's operation", `/ws/operations/${op.id}`, `access_token.${bob.token}`, 4003],
      [
        "no such operation",
        `/ws/operations/${crypto.randomUUID()}`,
        `access_token.${alice.token}`,
        4004,
      ],
      [
        "an id that is not a UUID",
        `/ws/operations/not-a-uuid`,
        `access_token.${alice.token}`,
        4004,
      ],
      ["a bad since", `/ws/operations/${op.id}?since=-1`, `access_token.${alice.token}`, 1008],
    ];
    for (const [name, path, protocol, expected] of cases) {
      await t.step(`${name}: accepted, then closed with ${expected}`, async () => {
        const c = open(path, protocol);
        await c.opened;
        if (protocol) assert.equal(c.ws.protocol, protocol);
        const { code } = await c.closed;
        assert.equal(code, expected);
        assert.deepEqual(c.frames, []);
      });
    }
    await t.step("a plain GET is refused with 426", async () => {
      const res = await fetch(`${env.server.url}/ws/operations`);
      assert.equal(res.status, 426);
      assert.equal((await res.json()).error.code, "invalid_request");
    });
    await t.step("a malformed handshake is refused with 400", async () => {
      const res = await fetch(`${env.server.url}/ws/operations`, {
        headers: { upgrade: "websocket", connection: "Upgrade" },
      });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error.code, "invalid_request");
    });
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});

Deno.test("ping gets pong, other frames are ignored, and a frame over 64 KiB closes with 1009", async () => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const c = connect(`${env.wsUrl}/ws/operations`, `access_token.${alice.token}`);
    clients.push(c);
    await c.opened;
    c.ws.send("hello");
    c.ws.send(JSON.stringify({ type: "subscribe" }));
    c.ws.send(JSON.stringify({ type: "ping" }));
    await c.waitForFrames(1);
    assert.deepEqual(c.frames, [{ type: "pong" }]);
    c.ws.send("x".repeat(64 * 1024 + 1));
    const { code } = await c.closed;
    assert.equal(code, 1009);
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});

Deno.test("/ws/operations: snapshots of the user's active operations, then their live events only", async () => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const bob = await env.user();
    const running = await env.newOp(alice.id);
    const finished = await env.newOp(alice.id);
    const bobs = await env.newOp(bob.id);
    await env.step(running, { status: "processing", progress: 40 });
    await env.step(finished, { status: "completed", progress: 100 });
    const c = connect(`${env.wsUrl}/ws/operations`, `access_token.${alice.token}`);
    clients.push(c);
    await c.waitForFrames(1);
    assert.deepEqual(
      [c.frames[0].type, c.frames[0].operation_id, c.frames[0].event_id, c.frames[0].progress],
      ["OPERATION_SNAPSHOT", running.id, 1, 40],
    );
    await env.step(bobs, { status: "processing" });
    const later = await env.newOp(alice.id);
    await env.step(later, { status: "processing" });
    await env.step(running, { status: "completed", progress: 100 });
    await c.waitForFrames(3);
    assert.deepEqual(c.frames.slice(1).map((f) => [f.type, f.operation_id, f.event_id]), [
      ["OPERATION_PROGRESS", later.id, 1],
      ["OPERATION_COMPLETED", running.id, 2],
    ]);
    // The user-wide socket stays open after an operation finishes.
    c.ws.send(JSON.stringify({ type: "ping" }));
    await c.waitForFrames(4);
    assert.deepEqual(c.frames[3], { type: "pong" });
    assert.equal(c.closeEvent, undefined);
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});

Deno.test("closing the server closes sockets with 1001, and the open-sockets gauge follows", async () => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const op = await env.newOp(alice.id);
    for (const path of [`/ws/operations/${op.id}`, "/ws/operations", "/ws/operations"]) {
      const c = connect(`${env.wsUrl}${path}`, `access_token.${alice.token}`);
      clients.push(c);
      await c.opened;
    }
    const gauge = async () =>
      await env.server.services.metrics.getSingleMetricAsString("semantik_ws_connections");
    await waitFor("the gauge", async () => /route="operations"} 2/.test(await gauge()));
    assert.match(await gauge(), /route="operation"} 1/);
    await env.server.close();
    const codes = await Promise.all(clients.map((c) => c.closed.then((e) => e.code)));
    assert.deepEqual(codes, [1001, 1001, 1001]);
    assert.equal(env.server.services.ws!.openSockets, 0);
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});
