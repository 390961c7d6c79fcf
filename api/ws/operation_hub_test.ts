import assert from "node:assert/strict";
import {
  EventKeys,
  EventPublisher,
  getLogger,
  KeySpace,
  type OperationRow,
} from "@semantik/shared";
import {
  createTestRedis,
  deleteByPrefix,
  publishNext,
  type TestRedis,
  waitFor,
} from "@semantik/shared/testing";
import { Redis } from "ioredis";
import { type HubEvent, hubGroupName, hubIdOfGroup, OperationHub } from "./operation_hub.ts";
import { ReadGate } from "./_gated_reader.ts";

const log = getLogger("hub-test");

export function fakeRow(owner: string, over: Partial<OperationRow> = {}): OperationRow {
  const now = new Date();
  return {
    id: crypto.randomUUID(),
    collection_id: crypto.randomUUID(),
    owner_id: owner,
    type: "index",
    status: "processing",
    progress: 0,
    message: "",
    error_message: null,
    config: {},
    metadata: {},
    attempts: 1,
    event_seq: 0,
    run_epoch: 0,
    cancel_requested_at: null,
    created_at: now,
    updated_at: now,
    started_at: now,
    completed_at: null,
    ...over,
  };
}

function makeHub(r: TestRedis, readers: Redis[], options = {}) {
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub({
    redis: r.redis,
    openReader: () => {
      const reader = new Redis(r.url, { maxRetriesPerRequest: null, connectionName: "hub-test" });
      readers.push(reader);
      return reader;
    },
    keys,
    log,
  }, { blockMs: 200, ...options });
  return { hub, keys };
}

Deno.test("OperationHub fans events out by operation and by owner from one reader", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  const { hub, keys } = makeHub(r, readers);
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const alice = crypto.randomUUID();
    const bob = crypto.randomUUID();
    const a1 = fakeRow(alice);
    const a2 = fakeRow(alice);
    const b1 = fakeRow(bob);
    const byOp: HubEvent[] = [];
    const byOwner: HubEvent[] = [];
    const other: HubEvent[] = [];
    await hub.subscribeOperation(a1.id, (e) => byOp.push(e));
    await hub.subscribeOwner(alice, (e) => byOwner.push(e));
    const unsubscribe = await hub.subscribeOperation(b1.id, (e) => other.push(e));
    unsubscribe();
    for (let i = 0; i < 3; i++) {
      await publishNext(pub, a1, { progress: i * 10 });
      await publishNext(pub, a2, { progress: i * 10 });
      await publishNext(pub, b1, { progress: i * 10 });
    }
    await waitFor("alice's events", () => byOwner.length === 6 && byOp.length === 3);
    assert.deepEqual(byOp.map((e) => e.event.event_id), [1, 2, 3]);
    assert.deepEqual(byOp.map((e) => e.event.progress), [0, 10, 20]);
    assert.ok(byOp.every((e) => e.event.operation_id === a1.id && e.ownerId === alice));
    assert.deepEqual(JSON.parse(byOp[0]!.frame), byOp[0]!.event);
    assert.ok(byOwner.every((e) => e.ownerId === alice));
    assert.equal(other.length, 0, "unsubscribed");
    assert.equal(readers.length, 1, "one reader, whatever the subscriptions");

    // The group is named for the hub; its heartbeat key lives next to it with a TTL.
    assert.equal(hub.group, hubGroupName(hub.hubId));
    assert.equal(hubIdOfGroup(hub.group), hub.hubId);
    const groups = await r.redis.xinfo("GROUPS", keys.global) as unknown[][];
    assert.ok(groups.some((g) => g.includes(hub.group)));
    const ttl = await r.redis.ttl(keys.hubHeartbeat(hub.hubId));
    assert.ok(ttl > 0 && ttl <= 60, String(ttl));
  } finally {
    await hub.close();
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("OperationHub recreates its group where it left off when the group disappears", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  const { hub, keys } = makeHub(r, readers);
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const owner = crypto.randomUUID();
    const row = fakeRow(owner);
    const got: number[] = [];
    await hub.subscribeOwner(owner, (e) => got.push(e.event.event_id));
    await publishNext(pub, row);
    await waitFor("the first event", () => got.length === 1);
    // What cleanup does to a hub it takes for dead; events published meanwhile must not be lost.
    await r.redis.xgroup("DESTROY", keys.global, hub.group);
    await publishNext(pub, row);
    await publishNext(pub, row);
    await waitFor("the group to come back", () => hub.recoveries >= 1);
    await publishNext(pub, row);
    await waitFor("every event", () => got.length >= 4);
    assert.deepEqual(got, [1, 2, 3, 4]);
  } finally {
    await hub.close();
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("OperationHub.close() removes its group and heartbeat and stops its reader", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  const { hub, keys } = makeHub(r, readers, { blockMs: 5000 });
  try {
    await hub.subscribeOwner(crypto.randomUUID(), () => {});
    await hub.close();
    await hub.close();
    const groups = await r.redis.xinfo("GROUPS", keys.global) as unknown[][];
    assert.ok(!groups.some((g) => g.includes(hub.group)));
    assert.equal(await r.redis.exists(keys.hubHeartbeat(hub.hubId)), 0);
    assert.equal(readers[0]!.status, "end");
    await assert.rejects(hub.subscribeOwner("x", () => {}), /closed/);
  } finally {
    await hub.close();
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("OperationHub refuses bad options", () => {
  const deps = {
    redis: {} as Redis,
    openReader: () => ({}) as Redis,
    keys: new EventKeys(new KeySpace("x:")),
    log,
  };
  assert.throws(() => new OperationHub(deps, { blockMs: 0 }), RangeError);
  assert.throws(() => new OperationHub(deps, { hubId: "a b" }), RangeError);
  assert.throws(
    () => new OperationHub(deps, { heartbeatTtlS: 10, heartbeatIntervalMs: 10_000 }),
    RangeError,
  );
});

Deno.test("OperationHub.close() during its start leaves no reader or timer behind", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  const { hub, keys } = makeHub(r, readers);
  try {
    const subscribing = hub.subscribeOwner(crypto.randomUUID(), () => {});
    await hub.close();
    await subscribing.catch(() => {});
    assert.equal(readers.length, 0);
    assert.equal(await r.redis.exists(keys.hubHeartbeat(hub.hubId)), 0);
  } finally {
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("a hub that has read nothing recovers its group where it was first created: an event published before the group came back is delivered", async () => {
  const r = await createTestRedis();
  const gate = new ReadGate();
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub(
    { redis: r.redis, openReader: () => gate.reader(r.url), keys, log },
    { blockMs: 200 },
  );
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    // Another user's event before the hub starts: the stream exists, the hub starts after it.
    await publishNext(pub, fakeRow(crypto.randomUUID()));
    const owner = crypto.randomUUID();
    const got: number[] = [];
    await hub.subscribeOwner(owner, (e) => got.push(e.event.event_id));
    // A quiet API: the hub reads nothing. Then Redis is flushed (here: this test's keys only, the
    // shared server serves other tests) and an event is published before the hub reads again.
    await gate.shut();
    await deleteByPrefix(r.redis, r.prefix);
    await publishNext(pub, fakeRow(owner));
    gate.open();
    await waitFor("the event published before the group was recreated", () => got.length === 1, {
      timeoutMs: 3000,
    });
    assert.deepEqual(got, [1]);
    assert.equal(hub.recoveries, 1);
  } finally {
    gate.open();
    await hub.close();
    gate.disconnectAll();
    await r.cleanup();
  }
});

Deno.test("a hub notices entries trimmed before it read them (a gap in their positions) and tells its lag listeners", async () => {
  const r = await createTestRedis();
  const gate = new ReadGate();
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub(
    { redis: r.redis, openReader: () => gate.reader(r.url), keys, log },
    { blockMs: 200 },
  );
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const owner = crypto.randomUUID();
    const row = fakeRow(owner);
    const got: number[] = [];
    let lags = 0;
    await hub.subscribeOwner(owner, (e) => got.push(e.event.event_id));
    hub.onLag(() => lags++);
    await publishNext(pub, row);
    await waitFor("the first event", () => got.length === 1, { timeoutMs: 3000 });
    await gate.shut();
    await publishNext(pub, row);
    await publishNext(pub, row);
    await r.redis.xtrim(keys.global, "MAXLEN", 1); // event 2 is gone, event 3 is not
    gate.open();
    await waitFor("the lag to be noticed", () => lags === 1, { timeoutMs: 3000 });
    assert.deepEqual(got, [1, 3]);
    assert.equal(hub.lags, 1);
    // Trimmed while the stream is quiet: noticed after a read that returns nothing.
    await gate.shut();
    await publishNext(pub, row);
    await r.redis.xtrim(keys.global, "MAXLEN", 0);
    gate.open();
    await waitFor("the quiet lag to be noticed", () => lags === 2, { timeoutMs: 3000 });
    assert.deepEqual(got, [1, 3]);
  } finally {
    gate.open();
    await hub.close();
    gate.disconnectAll();
    await r.cleanup();
  }
});
