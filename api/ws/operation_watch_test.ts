import assert from "node:assert/strict";
import {
  type Db,
  EVENT_RESERVATION,
  EventKeys,
  EventPublisher,
  getLogger,
  insertOperation,
  KeySpace,
  type OperationEvent,
  type OperationRow,
  type Queryable,
  readOperationEvents,
  SnapshotReader,
  type SqlParam,
} from "@semantik/shared";
import {
  createTestDb,
  createTestRedis,
  type TestDb,
  type TestRedis,
  waitFor,
  writeAndPublish,
} from "@semantik/shared/testing";
import { OperationHub } from "./operation_hub.ts";
import { OperationWatch, stateOf, type WatchDeps } from "./operation_watch.ts";
import { UserOperationsWatch } from "./user_operations_watch.ts";
import { CloseCode, SocketSession } from "./socket_session.ts";
import { FakeSocket } from "./_fake_socket.ts";
import { ReadGate } from "./_gated_reader.ts";

const log = getLogger("watch-test");

interface Env {
  t: TestDb;
  r: TestRedis;
  deps: WatchDeps;
  pub: EventPublisher;
  user: string;
  newOp(owner?: string): Promise<OperationRow>;
  /** Writes `set` to the row and publishes it, as the task context does. */
  step(row: OperationRow, set?: Partial<OperationRow>): Promise<void>;
  row(id: string): Promise<OperationRow>;
  /** Holds the hub's reads back. */
  gate: ReadGate;
}

/** The watch's deps reading through `db` (rows and snapshots alike). */
function depsWith(env: Env, db: Queryable): WatchDeps {
  return { ...env.deps, db, snapshots: new SnapshotReader(db, env.r.redis, env.deps.keys) };
}

async function withEnv(fn: (env: Env) => Promise<void>, publisherOptions = {}) {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const gate = new ReadGate();
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub({
    redis: r.redis,
    openReader: () => gate.reader(r.target),
    keys,
    log,
  }, { blockMs: 200 });
  try {
    const addUser = async () => {
      const id = crypto.randomUUID();
      await t.db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
        id,
        `u_${id.slice(0, 8)}`,
      ]);
      return id;
    };
    const user = await addUser();
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), publisherOptions);
    const row = async (id: string) =>
      (await t.db.query<OperationRow>("select * from operations where id = $1", [id]))[0]!;
    await fn({
      t,
      r,
      deps: {
        db: t.db,
        redis: r.redis,
        keys,
        hub,
        snapshots: new SnapshotReader(t.db, r.redis, keys),
        log,
      },
      pub,
      user,
      newOp: async (owner) =>
        await insertOperation(t.db, {
          collectionId: crypto.randomUUID(),
          ownerId: owner ?? await addUser(),
          type: "index",
        }),
      async step(op, set = {}) {
        await writeAndPublish(t.db, pub, op.id, set);
      },
      row,
      gate,
    });
  } finally {
    gate.open();
    await hub.close();
    gate.disconnectAll();
    await r.cleanup();
    await t.cleanup();
  }
}

async function updateRow(db: Db, id: string, set: Partial<OperationRow>) {
  const entries = Object.entries(set);
  if (entries.length === 0) return;
  await db.query(
    `update operations set ${entries.map(([k], i) => `${k} = $${i + 2}`).join(", ")} where id = $1`,
    [id, ...entries.map(([, v]) => v)] as never,
  );
}

function watcher(
  env: Env,
  row: OperationRow,
  since?: number,
  graceMs = 2000,
) {
  const socket = new FakeSocket();
  const session = new SocketSession(socket);
  const watch = new OperationWatch(session, env.deps, row, since, { terminalGraceMs: graceMs });
  return { socket, session, started: watch.start() };
}

const ids = (s: FakeSocket) => s.frames.map((f) => f.event_id);

/**
 * Event 2 (progress 20) of operation `opId`, put in the operation's stream and counter only: the
 * global stream never carries it, as when the hub misses an event.
 */
async function onlyInOperationStream(env: Env, opId: string): Promise<void> {
  const keys = env.deps.keys;
  await env.r.redis.set(keys.seq(opId), 2);
  await env.r.redis.xadd(
    keys.stream(opId),
    "2-0",
    "id",
    "2",
    "data",
    JSON.stringify({
      type: "OPERATION_PROGRESS",
      operation_id: opId,
      status: "processing",
      progress: 20,
    }),
  );
}

Deno.test("OperationWatch replays retained events, joins live with no gap or duplicate, and closes 1000 after the end", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    for (let p = 10; p <= 30; p += 10) await env.step(op, { progress: p });
    const { socket, session, started } = watcher(env, op);
    // Publish while the watch subscribes and replays: the join must neither lose nor repeat.
    for (let p = 40; p <= 90; p += 10) await env.step(op, { progress: p });
    await started;
    await env.step(op, { status: "completed", progress: 100 });
    await waitFor("the close", () => socket.closedWith);
    assert.deepEqual(ids(socket), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(socket.frames.at(-1).type, "OPERATION_COMPLETED");
    assert.equal(socket.code, CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("OperationWatch resumes after `since` with each later event exactly once", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    for (let p = 0; p < 6; p++) await env.step(op, { status: "processing", progress: p });
    const { socket, session, started } = watcher(env, op, 4);
    await started;
    await env.step(op, { progress: 50 });
    await waitFor("the live event", () => socket.sent.length === 3);
    assert.deepEqual(ids(socket), [5, 6, 7]);
    assert.equal(socket.closedWith, undefined);
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("OperationWatch sends a snapshot with the latest id when the needed history is gone", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    for (let p = 1; p <= 8; p++) await env.step(op, { status: "processing", progress: p });
    const { socket, session, started } = watcher(env, op, 1);
    await started;
    await env.step(op, { progress: 9 });
    await waitFor("the live event", () => socket.sent.length === 2);
    const [snap, live] = socket.frames;
    assert.equal(snap.type, "OPERATION_SNAPSHOT");
    assert.equal(snap.event_id, 8, "the latest id");
    assert.equal(snap.progress, 8);
    assert.equal(snap.operation_id, op.id);
    assert.deepEqual([live.type, live.event_id, live.progress], ["OPERATION_PROGRESS", 9, 9]);
    session.close(CloseCode.normal);
    session.handleClosed();
  }, { operationStreamMaxLen: 3 });
});

Deno.test("OperationWatch answers a `since` beyond the latest id with a snapshot", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    await env.step(op, { progress: 5 });
    const { socket, session, started } = watcher(env, op, 50);
    await started;
    await env.step(op, { progress: 6 });
    await waitFor("the live event", () => socket.sent.length === 2);
    assert.deepEqual(socket.frames.map((f) => [f.type, f.event_id]), [
      ["OPERATION_SNAPSHOT", 2],
      ["OPERATION_PROGRESS", 3],
    ]);
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("OperationWatch of a finished operation: replay then 1000; resuming after the end closes at once", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    await env.step(op, { status: "failed", error_message: "boom" });
    const all = watcher(env, op);
    await all.started;
    await waitFor("the close", () => all.socket.closedWith);
    assert.deepEqual(all.socket.frames.map((f) => f.type), [
      "OPERATION_PROGRESS",
      "OPERATION_FAILED",
    ]);
    assert.equal(all.socket.frames[1].error_message, "boom");
    assert.equal(all.socket.code, CloseCode.normal);
    all.session.handleClosed();

    const after = watcher(env, op, 2, 60_000);
    await after.started;
    await waitFor("the close", () => after.socket.closedWith);
    assert.deepEqual(after.socket.sent, []);
    assert.equal(after.socket.code, CloseCode.normal);
    after.session.handleClosed();
  });
});

Deno.test("OperationWatch stands a snapshot in for a terminal event that was never published", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    // Finished in Postgres while Redis missed the event (the task context logs and goes on).
    await updateRow(env.t.db, op.id, { status: "completed", progress: 100 });
    const { socket, session, started } = watcher(env, op, 0, 50);
    await started;
    await waitFor("the close", () => socket.closedWith);
    assert.deepEqual(socket.frames.map((f) => [f.type, f.event_id, f.status]), [
      ["OPERATION_PROGRESS", 1, "processing"],
      ["OPERATION_SNAPSHOT", 1, "completed"],
    ]);
    assert.equal(socket.code, CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("OperationWatch fills a gap in live events from the operation's stream", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    const { socket, session, started } = watcher(env, op);
    await started;
    await waitFor("the first event", () => socket.sent.length === 1);
    // Event 2 reaches the operation's stream but not the global one (as when the hub misses it).
    await onlyInOperationStream(env, op.id);
    await env.step(op, { progress: 30 });
    await waitFor("events 2 and 3", () => socket.sent.length === 3);
    assert.deepEqual(ids(socket), [1, 2, 3]);
    assert.deepEqual(socket.frames.map((f) => f.progress), [0, 20, 30]);
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("UserOperationsWatch: a snapshot of each active operation, then the user's live events only", async () => {
  await withEnv(async (env) => {
    const running = await env.newOp(env.user);
    const pending = await env.newOp(env.user);
    const done = await env.newOp(env.user);
    const others = await env.newOp();
    await env.step(running, { status: "processing", progress: 10 });
    await env.step(running, { progress: 20 });
    await env.step(done, { status: "completed", progress: 100 });
    const socket = new FakeSocket();
    const session = new SocketSession(socket);
    const watch = new UserOperationsWatch(session, env.deps, env.user);
    const started = watch.start();
    await env.step(running, { progress: 30 }); // before or after the snapshot: sent once
    await started;
    await env.step(others, { status: "processing" });
    await env.step(pending, { status: "processing" });
    await env.step(running, { status: "completed", progress: 100 });
    await waitFor(
      "the last event",
      () => socket.frames.some((f) => f.type === "OPERATION_COMPLETED"),
    );
    const frames = socket.frames;
    const snaps = frames.filter((f) => f.type === "OPERATION_SNAPSHOT");
    assert.deepEqual(
      snaps.map((f) => f.operation_id).sort(),
      [running.id, pending.id].sort(),
      "active operations only",
    );
    assert.ok(frames.every((f) => f.operation_id !== others.id && f.operation_id !== done.id));
    const runningIds = frames.filter((f) => f.operation_id === running.id).map((f) => f.event_id);
    assert.deepEqual(runningIds, [...new Set(runningIds)].sort((a, b) => a - b), "no repeats");
    assert.equal(runningIds.at(-1), 4);
    // The event published during the start is either shown by the snapshot or sent after it,
    // and the snapshot never claims an id whose event its content does not show.
    assert.ok(
      runningIds.includes(3) || snaps.find((s) => s.operation_id === running.id).progress === 30,
    );
    await assertSnapshotsCoverTheirIds(env, frames);
    const pendingFrames = frames.filter((f) => f.operation_id === pending.id);
    assert.deepEqual(pendingFrames.map((f) => [f.type, f.event_id]), [
      ["OPERATION_SNAPSHOT", 0],
      ["OPERATION_PROGRESS", 1],
    ]);
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});

/** A database whose first read of whole operation rows runs `hook` just before or after it. */
function hookedDb(db: Queryable, when: "before" | "after", hook: () => Promise<void>): Queryable {
  let fired = false;
  return {
    async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
      const hit = !fired && /select \* from operations/.test(sql);
      if (hit) fired = true;
      if (hit && when === "before") await hook();
      const rows = await db.query<T>(sql, params);
      if (hit && when === "after") await hook();
      return rows;
    },
  };
}

/**
 * Asserts that each snapshot shows at least the state of the event it is labelled with: its
 * content equals that event's or a later one's (a snapshot may show what the next live event
 * then repeats, never less than its id claims).
 */
async function assertSnapshotsCoverTheirIds(env: Env, frames: OperationEvent[]): Promise<void> {
  // A snapshot labelled 0 claims no event.
  for (const snap of frames.filter((f) => f.type === "OPERATION_SNAPSHOT" && f.event_id > 0)) {
    const { events } = await readOperationEvents(env.r.redis, {
      keys: env.deps.keys,
      operationId: snap.operation_id,
    });
    const atOrAfter = events.filter((e) => e.event_id >= snap.event_id).map(stateOf);
    assert.ok(
      atOrAfter.includes(stateOf(snap)),
      `snapshot ${snap.event_id} (${snap.status} ${snap.progress}) shows less than event ` +
        `${snap.event_id}: ${
          JSON.stringify(events.map((e) => [e.event_id, e.status, e.progress]))
        }`,
    );
  }
}

const trace = (frames: OperationEvent[]) =>
  JSON.stringify(frames.map((f) => [f.type, f.event_id, f.status, f.progress]));

for (const when of ["after", "before"] as const) {
  Deno.test(`OperationWatch: a snapshot shows every event up to its id, and the client ends finished (terminal event published just ${when} the row is read)`, async () => {
    await withEnv(async (env) => {
      const op = await env.newOp(env.user);
      for (let p = 1; p <= 8; p++) await env.step(op, { status: "processing", progress: p });
      const db = hookedDb(env.t.db, when, () => env.step(op, { status: "completed" }));
      const socket = new FakeSocket();
      const session = new SocketSession(socket);
      // since=1: events 2..5 were trimmed, so a snapshot stands in for them.
      const watch = new OperationWatch(session, depsWith(env, db), op, 1, {
        terminalGraceMs: 60_000,
      });
      await watch.start();
      await waitFor("the close", () => socket.closedWith, { timeoutMs: 3000 });
      const frames = socket.frames as OperationEvent[];
      assert.equal(frames.at(-1)!.status, "completed", trace(frames));
      assert.equal(frames[0]!.type, "OPERATION_SNAPSHOT");
      await assertSnapshotsCoverTheirIds(env, frames);
      assert.equal(socket.code, CloseCode.normal);
      session.handleClosed();
    }, { operationStreamMaxLen: 3 });
  });

  Deno.test(`UserOperationsWatch: a snapshot shows every event up to its id, and the client ends finished (terminal event published just ${when} the rows are read)`, async () => {
    await withEnv(async (env) => {
      const op = await env.newOp(env.user);
      await env.step(op, { status: "processing", progress: 10 });
      await env.step(op, { progress: 20 });
      const db = hookedDb(env.t.db, when, () => env.step(op, { status: "completed" }));
      const socket = new FakeSocket();
      const session = new SocketSession(socket);
      await new UserOperationsWatch(session, depsWith(env, db), env.user).start();
      await waitFor(
        "the operation's terminal state",
        () => (socket.frames as OperationEvent[]).some((f) => f.status === "completed"),
        { timeoutMs: 3000 },
      );
      const frames = socket.frames as OperationEvent[];
      assert.equal(frames.at(-1)!.status, "completed", trace(frames));
      await assertSnapshotsCoverTheirIds(env, frames);
      if (when === "before") {
        // Finished between the list of active operations and the read of their rows: not
        // active any more, so no snapshot of it; its terminal event reaches the client live.
        assert.deepEqual(
          frames.filter((f) => f.type === "OPERATION_SNAPSHOT").map((f) => f.status),
          [],
          trace(frames),
        );
        assert.equal(frames.at(-1)!.type, "OPERATION_COMPLETED", trace(frames));
      }
      session.close(CloseCode.normal);
      session.handleClosed();
    });
  });
}

Deno.test("watches recover events the hub missed because the global stream was trimmed past its position", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    const one = watcher(env, op);
    await one.started;
    const allSocket = new FakeSocket();
    const all = new SocketSession(allSocket);
    await new UserOperationsWatch(all, env.deps, env.user).start();
    await waitFor("the first frames", () => one.socket.sent.length === 1, { timeoutMs: 3000 });
    await env.gate.shut();
    await env.step(op, { progress: 50 });
    await env.step(op, { status: "completed", progress: 100 });
    // The global stream's cap trimmed both events before the hub read them.
    await env.r.redis.xtrim(env.deps.keys.globalOf(op.id), "MAXLEN", 0);
    env.gate.open();
    await waitFor("the watch's close", () => one.socket.closedWith, { timeoutMs: 3000 });
    assert.deepEqual(ids(one.socket), [1, 2, 3], "caught up from the operation's stream");
    assert.equal(one.socket.frames.at(-1).type, "OPERATION_COMPLETED");
    await waitFor(
      "the user watch's terminal frame",
      () => allSocket.frames.some((f) => f.type === "OPERATION_COMPLETED"),
      { timeoutMs: 3000 },
    );
    assert.deepEqual(allSocket.frames.map((f) => [f.type, f.event_id]), [
      ["OPERATION_SNAPSHOT", 1],
      ["OPERATION_PROGRESS", 2],
      ["OPERATION_COMPLETED", 3],
    ]);
    assert.ok(env.deps.hub.lags >= 1);
    one.session.handleClosed();
    all.close(CloseCode.normal);
    all.handleClosed();
  });
});

Deno.test("a live watch re-reads the row and ends with it when its terminal event was never published", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing", progress: 30 });
    const socket = new FakeSocket();
    const session = new SocketSession(socket);
    await new OperationWatch(session, env.deps, op, 0, { rowCheckMs: 100 }).start();
    const allSocket = new FakeSocket();
    const all = new SocketSession(allSocket);
    await new UserOperationsWatch(all, env.deps, env.user, { rowCheckMs: 100 }).start();
    await waitFor(
      "the first frames",
      () => socket.sent.length === 1 && allSocket.sent.length === 1,
      {
        timeoutMs: 3000,
      },
    );
    // The row failed; its event never reached Redis (the publish failed and was only logged).
    await updateRow(env.t.db, op.id, { status: "failed", error_message: "disk on fire" });
    await waitFor("the watch's close", () => socket.closedWith, { timeoutMs: 3000 });
    assert.deepEqual(socket.frames.map((f) => [f.type, f.event_id, f.status, f.error_message]), [
      ["OPERATION_PROGRESS", 1, "processing", null],
      ["OPERATION_SNAPSHOT", 1, "failed", "disk on fire"],
    ]);
    assert.equal(socket.code, CloseCode.normal);
    await waitFor("the user watch's terminal snapshot", () => allSocket.sent.length === 2, {
      timeoutMs: 3000,
    });
    assert.deepEqual(allSocket.frames.at(-1).status, "failed");
    session.handleClosed();
    all.close(CloseCode.normal);
    all.handleClosed();
  });
});

Deno.test("row re-reads send nothing for an operation that waits without events, nor for a write whose event is on its way", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    let reads = 0;
    const db: Queryable = {
      async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
        if (/select \* from operations where id = any/.test(sql)) reads++;
        return await env.t.db.query<T>(sql, params);
      },
    };
    const socket = new FakeSocket();
    const session = new SocketSession(socket);
    await new OperationWatch(session, depsWith(env, db), op, 0, {
      rowCheckMs: 20,
      terminalGraceMs: 200,
    }).start();
    const allSocket = new FakeSocket();
    const all = new SocketSession(allSocket);
    await new UserOperationsWatch(all, depsWith(env, db), env.user, {
      rowCheckMs: 20,
      eventGraceMs: 200,
    }).start();
    // Pending in the queue with no event yet: re-reads find what the client started from.
    const before = reads;
    await waitFor("several re-reads", () => reads >= before + 6, { timeoutMs: 3000 });
    assert.deepEqual(socket.sent, []);
    assert.deepEqual(allSocket.frames.map((f) => f.type), ["OPERATION_SNAPSHOT"]);
    // A write committed, its publish still on the way while the watches re-read the row.
    const [written] = await env.t.db.query<OperationRow>(
      `update operations set status = 'processing', progress = 5, ${EVENT_RESERVATION}
        where id = $1 returning *`,
      [op.id],
    );
    const seen = reads;
    await waitFor("a re-read of the written row", () => reads >= seen + 2, { timeoutMs: 3000 });
    await env.pub.publish(written!);
    await waitFor("the event", () => socket.sent.length === 1 && allSocket.sent.length === 2, {
      timeoutMs: 3000,
    });
    const after = reads;
    await waitFor("re-reads past the confirmation", () => reads >= after + 20, { timeoutMs: 5000 });
    assert.deepEqual(socket.frames.map((f) => [f.type, f.event_id]), [["OPERATION_PROGRESS", 1]]);
    assert.deepEqual(allSocket.frames.map((f) => [f.type, f.event_id]), [
      ["OPERATION_SNAPSHOT", 0],
      ["OPERATION_PROGRESS", 1],
    ]);
    session.close(CloseCode.normal);
    session.handleClosed();
    all.close(CloseCode.normal);
    all.handleClosed();
  });
});

Deno.test("a row re-read fetches events the hub missed without noticing (the counter is ahead of the client)", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    const socket = new FakeSocket();
    const session = new SocketSession(socket);
    await new OperationWatch(session, env.deps, op, 0, { rowCheckMs: 50 }).start();
    await waitFor("the first event", () => socket.sent.length === 1, { timeoutMs: 3000 });
    // Event 2 reaches the operation's stream (and the counter) but never the global stream, and
    // nothing follows it live: only the re-read can find it. The row itself is unchanged.
    await onlyInOperationStream(env, op.id);
    await waitFor("event 2 from the operation's stream", () => socket.sent.length === 2, {
      timeoutMs: 3000,
      seen: () => socket.frames,
    });
    assert.deepEqual(socket.frames.map((f) => [f.type, f.event_id, f.progress]), [
      ["OPERATION_PROGRESS", 1, 0],
      ["OPERATION_PROGRESS", 2, 20],
    ]);
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});

Deno.test("watches opening together share their row reads (one SnapshotReader), and each ends as its own would", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing", progress: 10 });
    await env.step(op, { status: "completed", progress: 100 });
    let reads = 0;
    const db: Queryable = {
      async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
        if (/select \* from operations where id = any/.test(sql)) reads++;
        return await env.t.db.query<T>(sql, params);
      },
    };
    const deps = depsWith(env, db);
    // 20 sockets of one finished operation, resuming at its last event: each watch reads the row
    // to see that the client has the end already, and closes.
    const sockets = Array.from({ length: 20 }, () => new FakeSocket());
    const sessions = sockets.map((socket) => new SocketSession(socket));
    await Promise.all(sessions.map((session) => new OperationWatch(session, deps, op, 2).start()));
    await waitFor("every socket closed", () => sockets.every((s) => s.closedWith), {
      timeoutMs: 3000,
      seen: () => sockets.map((s) => s.code),
    });
    for (const socket of sockets) {
      assert.deepEqual([socket.sent.length, socket.code], [0, CloseCode.normal]);
    }
    // One read each would be 20 (4 measured together here, alone on the machine); half of that
    // at most, whatever the machine is doing.
    assert.ok(reads <= 10, `${reads} row reads for 20 watches opening together`);
    for (const session of sessions) session.handleClosed();
  });
});

Deno.test("a watch whose events keep coming skips its row re-reads, and re-reads once it goes quiet", async () => {
  await withEnv(async (env) => {
    const op = await env.newOp(env.user);
    await env.step(op, { status: "processing" });
    let reads = 0;
    const db: Queryable = {
      async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
        if (/select \* from operations where id = any/.test(sql)) reads++;
        return await env.t.db.query<T>(sql, params);
      },
    };
    const socket = new FakeSocket();
    const session = new SocketSession(socket);
    const rowCheckMs = 250;
    await new OperationWatch(session, depsWith(env, db), op, 0, { rowCheckMs }).start();
    await waitFor("the first event", () => socket.sent.length === 1, { timeoutMs: 3000 });
    // Events every ~25 ms for about ten ticks: every tick finds frames went out since the last.
    const before = reads;
    const started = performance.now();
    let published = 1;
    while (performance.now() - started < 10 * rowCheckMs) {
      await env.step(op, { progress: published++ % 100 });
      await new Promise((r) => setTimeout(r, 25));
    }
    const ticks = Math.floor((performance.now() - started) / rowCheckMs);
    const whileLive = reads - before;
    await waitFor("every event", () => socket.sent.length === published, {
      timeoutMs: 3000,
      seen: () => socket.sent.length,
    });
    // Without the skip every tick reads (about ten); a tick may still read after a stall of the
    // event loop longer than a tick.
    assert.ok(whileLive <= 3, `${whileLive} row reads in ${ticks} ticks while events came`);
    const quiet = reads;
    await waitFor("a re-read once quiet", () => reads >= quiet + 2, { timeoutMs: 3000 });
    assert.deepEqual(
      socket.frames.map((f) => f.event_id),
      [...Array(published).keys()].map((i) => i + 1),
    );
    session.close(CloseCode.normal);
    session.handleClosed();
  });
});
