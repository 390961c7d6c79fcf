/**
 * The event path under random interleavings (fast-check): task contexts publishing progress and
 * terminal writes from two owners at once (and reconcile), publishes held back or failing, hub
 * restarts, lost consumer groups, the global stream trimmed below a hub's position, and clients
 * that disconnect and resume with `?since=`. Real Postgres and Redis; the hubs and watches run in
 * this process, so one case costs milliseconds.
 *
 * Invariant for every case, checked on each client once the operation has finished and every
 * publish has gone out or failed: the client ends with exactly the row's terminal state; event ids
 * never go back, events never repeat an id; nothing follows the terminal frame; in Redis nothing
 * follows a terminal event and its stream and counter keep their expiry.
 *
 * `FC_RUNS` (default 200) sets the number of cases; a failure prints `FC_SEED` and `FC_PATH`,
 * which replay exactly the failing case.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  EventKeys,
  EventPublisher,
  getOperation,
  insertOperation,
  KeySpace,
  LeaseLostError,
  Logger,
  type OperationEvent,
  readOperationEvents,
  SnapshotReader,
  TaskContext,
} from "@semantik/shared";
import { createTestDb, createTestRedis, waitFor } from "@semantik/shared/testing";
import { OperationHub } from "../api/ws/operation_hub.ts";
import {
  isFinalEvent,
  OperationWatch,
  stateOf,
  type WatchDeps,
} from "../api/ws/operation_watch.ts";
import { UserOperationsWatch } from "../api/ws/user_operations_watch.ts";
import { SocketSession } from "../api/ws/socket_session.ts";
import { FakeSocket } from "../api/ws/_fake_socket.ts";
import { ReadGate } from "../api/ws/_gated_reader.ts";
import { eventFromRow } from "@semantik/shared";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 200);
const SEED = Number(Deno.env.get("FC_SEED") ?? (Date.now() ^ (Math.random() * 0x7fffffff)));
const PATH = Deno.env.get("FC_PATH");
/** Short intervals: a hub notices lag within a read or two, a watch re-reads its row quickly. */
const HUB = { blockMs: 10 };
const WATCH = { terminalGraceMs: 25, rowCheckMs: 25 };
const RETAIN_S = 3600;

/** Records errors; everything else the components log under test is expected noise. */
class QuietLogger extends Logger {
  static errors: string[] = [];
  override child(): Logger {
    return this;
  }
  override debug(): void {}
  override info(): void {}
  override warn(): void {}
  override error(msg: string, fields?: Record<string, unknown>): void {
    QuietLogger.errors.push(`${msg} ${String(fields?.err ?? "")}`);
  }
}
const log = new QuietLogger("property");

/** A writer's publisher whose publishes the case can hold back, release, or make fail. */
class ControlledPublisher extends EventPublisher {
  holding = false;
  failNext = false;
  readonly held: PromiseWithResolvers<boolean>[] = [];
  #heldSignal = Promise.withResolvers<void>();

  /** Resolves when a publish starts waiting. */
  get nextHeld(): Promise<void> {
    return this.#heldSignal.promise;
  }

  override async publish(...args: Parameters<EventPublisher["publish"]>) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("injected publish failure");
    }
    if (this.holding) {
      const d = Promise.withResolvers<boolean>();
      this.held.push(d);
      this.#heldSignal.resolve();
      this.#heldSignal = Promise.withResolvers();
      if (!(await d.promise)) throw new Error("injected publish failure");
    }
    return await super.publish(...args);
  }

  release(fail: boolean): void {
    this.holding = false;
    for (const d of this.held.splice(0)) d.resolve(!fail);
  }
}

type Who = "A" | "B" | "R";
type Action =
  | { t: "progress"; by: "owner" | "stale" }
  | { t: "hold"; who: Who }
  | { t: "release"; who: Who; fail: boolean }
  | { t: "failNext"; who: Who }
  | { t: "takeover"; notice: boolean }
  | { t: "terminal"; by: "owner" | "stale" | "reconcile"; kind: "complete" | "fail" | "cancel" }
  | { t: "hubRestart" }
  | { t: "groupLoss"; hub: 0 | 1 }
  | { t: "pause"; hub: 0 | 1 }
  | { t: "trim"; keep: 0 | 1 }
  | { t: "resume"; hub: 0 | 1 }
  | { t: "disconnect"; client: number }
  | { t: "reconnect"; client: number }
  | { t: "connect" };

const who = fc.constantFrom<Who>("A", "B", "R");
const hub01 = fc.constantFrom<0 | 1>(0, 1);
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("progress" as const),
      by: fc.constantFrom("owner" as const, "stale" as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("hold" as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("release" as const), who, fail: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("failNext" as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("takeover" as const), notice: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("terminal" as const),
      by: fc.constantFrom("owner" as const, "stale" as const, "reconcile" as const),
      kind: fc.constantFrom("complete" as const, "fail" as const, "cancel" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("hubRestart" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("groupLoss" as const), hub: hub01 }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("pause" as const), hub: hub01 }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("trim" as const), keep: fc.constantFrom<0 | 1>(0, 1) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("resume" as const), hub: hub01 }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("disconnect" as const), client: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("reconnect" as const), client: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("connect" as const) }) },
);

interface Client {
  /** 0: hub A (restarts), 1: hub B. */
  hub: 0 | 1;
  sockets: FakeSocket[];
  session: SocketSession | undefined;
  /** The highest event id seen: what a reconnect sends as `since`. */
  last: number;
}

Deno.test("event path: under random interleavings every client ends with the row's terminal state, ids never go back or repeat, nothing follows the terminal frame", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const keySpace = new KeySpace(r.prefix);
  const keys = new EventKeys(keySpace);
  const user = crypto.randomUUID();
  await t.db.query("insert into users (id, username, password_hash) values ($1, 'prop', 'x')", [
    user,
  ]);
  const gates: [ReadGate, ReadGate] = [new ReadGate(), new ReadGate()];
  const newHub = async (gate: ReadGate) => {
    const hub = new OperationHub({
      redis: r.redis,
      openReader: () => gate.reader(r.url),
      keys,
      log,
    }, HUB);
    await hub.start();
    return hub;
  };
  const hubs: [OperationHub, OperationHub] = [await newHub(gates[0]), await newHub(gates[1])];
  const snapshots = new SnapshotReader(t.db, r.redis, keys);
  const deps = (hub: 0 | 1): WatchDeps => ({
    db: t.db,
    redis: r.redis,
    keys,
    hub: hubs[hub],
    snapshots,
    log,
  });
  const paused: [boolean, boolean] = [false, false];
  let cases = 0;
  const started = performance.now();

  const runCase = async (actions: Action[]) => {
    cases++;
    const op = await insertOperation(t.db, {
      collectionId: crypto.randomUUID(),
      ownerId: user,
      type: "index",
    });
    const pubs: Record<Who, ControlledPublisher> = {
      A: new ControlledPublisher(r.redis, keySpace, { retainSeconds: RETAIN_S }),
      B: new ControlledPublisher(r.redis, keySpace, { retainSeconds: RETAIN_S }),
      R: new ControlledPublisher(r.redis, keySpace, { retainSeconds: RETAIN_S }),
    };
    const leaseA = new AbortController();
    const ctxA = new TaskContext({ db: t.db, events: pubs.A, log }, op, {
      signal: leaseA.signal,
    });
    let ctxB: TaskContext | undefined;
    /** Each writer's calls not known to be finished (a writer's calls run one after another). */
    const pending = new Map<ControlledPublisher, Promise<unknown>[]>();
    /** Runs a writer's call; waits for it unless its publish is (or will be) held back. */
    const write = async (pub: ControlledPublisher, fn: () => Promise<unknown>) => {
      const queuedBehind = pub.held.length > 0;
      const p = fn().catch(() => {});
      pending.set(pub, [...pending.get(pub) ?? [], p]);
      if (!queuedBehind) await Promise.race([p, pub.nextHeld]);
    };
    const clients: Client[] = [];
    const connect = async (c: Client) => {
      const socket = new FakeSocket();
      const session = new SocketSession(socket);
      c.sockets.push(socket);
      c.session = session;
      const row = (await getOperation(t.db, op.id))!;
      await new OperationWatch(session, deps(c.hub), row, c.last, WATCH).start();
    };
    const frames = (c: { sockets: FakeSocket[] }) =>
      c.sockets.flatMap((s) => s.frames as OperationEvent[]);
    const done = (c: Client) => c.sockets.some((s) => s.code === 1000);
    const drop = (c: Client) => {
      if (!c.session) return;
      c.last = Math.max(c.last, ...frames(c).map((f) => f.event_id));
      c.session.handleClosed();
      c.session = undefined;
    };
    const addClient = async (hub: 0 | 1) => {
      const c: Client = { hub, sockets: [], session: undefined, last: 0 };
      clients.push(c);
      await connect(c);
    };
    await addClient(0);
    await addClient(1);
    const userSocket = new FakeSocket();
    const userSession = new SocketSession(userSocket);
    await new UserOperationsWatch(userSession, deps(1), user, {
      rowCheckMs: WATCH.rowCheckMs,
      eventGraceMs: WATCH.terminalGraceMs,
    })
      .start();
    await write(pubs.A, () => ctxA.updateStatus("processing", "Started", 1));

    let progress = 0;
    for (const a of actions) {
      switch (a.t) {
        case "progress": {
          const ctx = a.by === "owner" ? ctxB ?? ctxA : ctxA;
          const pub = ctx === ctxB ? pubs.B : pubs.A;
          const p = ++progress;
          await write(pub, () => {
            ctx.updateProgress(p, `step ${p}`);
            return ctx.flush();
          });
          break;
        }
        case "hold":
          pubs[a.who].holding = true;
          break;
        case "release":
          pubs[a.who].release(a.fail);
          await Promise.all(pending.get(pubs[a.who]) ?? []);
          break;
        case "failNext":
          pubs[a.who].failNext = true;
          break;
        case "takeover":
          if (ctxB) break;
          if (a.notice) leaseA.abort(new LeaseLostError(op.id, "taken"));
          ctxB = new TaskContext(
            { db: t.db, events: pubs.B, log },
            (await getOperation(t.db, op.id))!,
            {},
          );
          await write(pubs.B, () => ctxB!.updateStatus("processing", "Attempt 2 of 3", 2));
          break;
        case "terminal": {
          let ctx: TaskContext;
          let pub: ControlledPublisher;
          if (a.by === "reconcile") {
            pub = pubs.R;
            ctx = new TaskContext(
              { db: t.db, events: pub, log },
              (await getOperation(t.db, op.id))!,
            );
          } else {
            ctx = a.by === "owner" ? ctxB ?? ctxA : ctxA;
            pub = ctx === ctxB ? pubs.B : pubs.A;
          }
          await write(
            pub,
            () =>
              a.kind === "complete"
                ? ctx.complete({ by: a.by })
                : a.kind === "fail"
                ? ctx.fail(`failed by ${a.by}`)
                : ctx.cancelled(),
          );
          break;
        }
        case "hubRestart": {
          gates[0].open();
          paused[0] = false;
          for (const c of clients.filter((c) => c.hub === 0)) drop(c);
          await hubs[0].close();
          gates[0].disconnectAll();
          gates[0] = new ReadGate();
          hubs[0] = await newHub(gates[0]);
          break;
        }
        case "groupLoss":
          for (let p = 0; p < keys.partitions; p++) {
            await r.redis.xgroup("DESTROY", keys.global(p), hubs[a.hub].group);
          }
          break;
        case "pause":
          if (!paused[a.hub]) {
            await gates[a.hub].shut();
            paused[a.hub] = true;
          }
          break;
        case "trim":
          // Below a paused hub's position: entries it has not read yet are gone.
          for (let p = 0; p < keys.partitions; p++) {
            await r.redis.xtrim(keys.global(p), "MAXLEN", a.keep);
          }
          break;
        case "resume":
          gates[a.hub].open();
          paused[a.hub] = false;
          break;
        case "disconnect": {
          const c = clients[a.client % clients.length]!;
          if (!done(c)) drop(c);
          break;
        }
        case "reconnect": {
          const c = clients[a.client % clients.length]!;
          if (!c.session && !done(c)) await connect(c);
          break;
        }
        case "connect":
          if (clients.length < 4) await addClient(clients.length % 2 === 0 ? 0 : 1);
          break;
      }
    }

    // Everything settles: publishes go out, hubs read again, the operation finishes.
    for (const pub of Object.values(pubs)) pub.failNext = false, pub.release(false);
    for (const i of [0, 1] as const) gates[i].open(), paused[i] = false;
    await Promise.all([...pending.values()].flat());
    let row = (await getOperation(t.db, op.id))!;
    if (!["completed", "failed", "cancelled"].includes(row.status)) {
      const closing = new TaskContext({ db: t.db, events: pubs.R, log }, row);
      await closing.fail("ended by the case");
    }
    row = (await getOperation(t.db, op.id))!;
    for (const c of clients) if (!c.session && !done(c)) await connect(c);
    const userFrames = () =>
      (userSocket.frames as OperationEvent[]).filter((f) => f.operation_id === op.id);
    const trace = () =>
      JSON.stringify({
        row: [row.status, row.progress, row.message],
        clients: clients.map((c) =>
          frames(c).map((f) => [f.type, f.event_id, f.status, f.progress])
        ),
        user: userFrames().map((f) => [f.type, f.event_id, f.status, f.progress]),
      });
    await waitFor(
      `every client's terminal frame: ${trace()}`,
      () => clients.every(done) && userFrames().some(isFinalEvent),
      { timeoutMs: 5000, intervalMs: 5 },
    );

    const final = stateOf(eventFromRow(row));
    for (const [i, seen] of [...clients.map(frames), userFrames()].entries()) {
      const what = `client ${i}: ${trace()}`;
      const end = seen.findIndex(isFinalEvent);
      assert.equal(end, seen.length - 1, `nothing follows the terminal frame (${what})`);
      assert.equal(stateOf(seen[end]!), final, `ends with the row's terminal state (${what})`);
      const eventIds = seen.filter((f) => f.type !== "OPERATION_SNAPSHOT").map((f) => f.event_id);
      assert.equal(new Set(eventIds).size, eventIds.length, `no event id repeats (${what})`);
      for (let k = 1; k < seen.length; k++) {
        assert.ok(seen[k]!.event_id >= seen[k - 1]!.event_id, `ids never go back (${what})`);
        if (seen[k]!.type !== "OPERATION_SNAPSHOT") {
          assert.ok(seen[k]!.event_id > seen[k - 1]!.event_id, `events move ids on (${what})`);
        }
      }
    }
    const { events } = await readOperationEvents(r.redis, { keys, operationId: op.id });
    const terminalAt = events.findIndex(isFinalEvent);
    if (terminalAt >= 0) {
      assert.equal(terminalAt, events.length - 1, "nothing is published after the terminal event");
      for (const key of [keys.stream(op.id), keys.seq(op.id)]) {
        const ttl = await r.redis.ttl(key);
        assert.ok(
          ttl > 0 && ttl <= RETAIN_S,
          `the terminal stream keeps its expiry: ${key} ${ttl}`,
        );
      }
    }
    assert.deepEqual(QuietLogger.errors, []);

    for (const c of clients) drop(c);
    userSession.handleClosed();
    ctxA.abandon();
    ctxB?.abandon();
  };

  try {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 4, maxLength: 24 }), runCase),
      { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: Deno.env.get("FC_SHRINK") !== "1" },
    );
  } catch (err) {
    console.error(
      `event path property failed: replay with FC_SEED=${SEED} (and FC_PATH from the report)`,
    );
    throw err;
  } finally {
    for (const i of [0, 1] as const) {
      gates[i].open();
      await hubs[i].close();
      gates[i].disconnectAll();
    }
    await r.cleanup();
    await t.cleanup();
  }
  console.log(
    `event path property: ${cases} cases in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s (FC_SEED=${SEED})`,
  );
});
