import { operationRowFixture } from "@semantik/shared/testing";
import assert from "node:assert/strict";
import {
  createRedis,
  EventKeys,
  EventPublisher,
  getLogger,
  keySlot,
  KeySpace,
  type OperationRow,
} from "@semantik/shared";
import {
  createTestRedis,
  deleteByPrefix,
  publishNext,
  type TestRedis,
  testRedisIsCluster,
  waitFor,
} from "@semantik/shared/testing";
import type { Redis } from "ioredis";
import {
  entryIdAfter,
  type HubEvent,
  hubGroupName,
  hubIdOfGroup,
  OperationHub,
} from "./operation_hub.ts";
import { ReadGate } from "./_gated_reader.ts";

const log = getLogger("hub-test");

function makeHub(r: TestRedis, readers: Redis[], options = {}) {
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub({
    redis: r.redis,
    openReader: () => {
      const reader = createRedis(r.target, { name: "hub-test", blocking: true });
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
    // One blocking read of every partition on one node; one per partition (slot) on a cluster.
    assert.equal(
      readers.length,
      testRedisIsCluster() ? keys.partitions : 1,
      "readers depend on the partitions only, whatever the subscriptions",
    );
    assert.equal(hub.readerCount, readers.length);

    // The group is named for the hub; its heartbeat key lives next to it with a TTL.
    assert.equal(hub.group, hubGroupName(hub.hubId));
    assert.equal(hubIdOfGroup(hub.group), hub.hubId);
    for (let p = 0; p < keys.partitions; p++) {
      const groups = await r.redis.xinfo("GROUPS", keys.global(p)) as unknown[][];
      assert.ok(groups.some((g) => g.includes(hub.group)), `partition ${p}`);
    }
    const ttl = await r.redis.ttl(keys.hubHeartbeat(hub.hubId));
    assert.ok(ttl > 0 && ttl <= 60, String(ttl));
  } finally {
    await hub.close();
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("a listener that unsubscribes or throws while an event is handed out does not keep it from the others", async () => {
  const r = await createTestRedis();
  const { hub } = makeHub(r, []);
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const owner = crypto.randomUUID();
    const row = fakeRow(owner);
    const got = { leaving: [] as number[], throwing: [] as number[], staying: [] as number[] };
    const leave = await hub.subscribeOperation(row.id, (e) => {
      got.leaving.push(e.event.event_id);
      leave();
    });
    await hub.subscribeOperation(row.id, (e) => {
      got.throwing.push(e.event.event_id);
      throw new Error("a listener's bug");
    });
    await hub.subscribeOwner(owner, (e) => got.staying.push(e.event.event_id));
    await publishNext(pub, row);
    await publishNext(pub, row);
    await waitFor("both events at the staying listener", () => got.staying.length === 2);
    assert.deepEqual(got, { leaving: [1], throwing: [1, 2], staying: [1, 2] });
    assert.equal(hub.listenerCount, 2);
  } finally {
    await hub.close();
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
    await r.redis.xgroup("DESTROY", keys.globalOf(row.id), hub.group);
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

Deno.test("after a flush (the count went back) a hub reads the new stream from its beginning, even ids below the last it read", async () => {
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
    await publishNext(pub, row);
    await waitFor("the first events", () => got.length === 2, { seen: () => got });
    // Everything of the event path is flushed; the server that answers now has a clock behind
    // the old one (a failover), so the first new entry's id is below the last one the hub read.
    await deleteByPrefix(r.redis, r.prefix);
    const event = { type: "OPERATION_PROGRESS", operation_id: row.id, status: "processing" };
    await r.redis.xadd(
      keys.globalOf(row.id),
      "1-1",
      "op",
      row.id,
      "owner",
      owner,
      "id",
      "3",
      "g",
      "1",
      "data",
      JSON.stringify(event),
    );
    await r.redis.set(keys.globalCountOf(row.id), 1);
    await waitFor("the event published after the flush", () => got.length === 3, {
      seen: () => ({ got, recoveries: hub.recoveries }),
    });
    assert.deepEqual(got, [1, 2, 3]);
    assert.ok(hub.recoveries >= 1);
    // The flush is one lag; the new stream's positions start over without looking like a gap.
    assert.equal(hub.lags, 1);
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
    for (let p = 0; p < keys.partitions; p++) {
      const groups = await r.redis.xinfo("GROUPS", keys.global(p)) as unknown[][];
      assert.ok(!groups.some((g) => g.includes(hub.group)), `partition ${p}`);
    }
    assert.equal(await r.redis.exists(keys.hubHeartbeat(hub.hubId)), 0);
    assert.ok(readers.length > 0 && readers.every((c) => c.status === "end"));
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
    { redis: r.redis, openReader: () => gate.reader(r.target), keys, log },
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
    // Every read recreates its groups once: one read on one node, one per partition on a cluster.
    const reads = testRedisIsCluster() ? keys.partitions : 1;
    await waitFor("every read to recreate its groups", () => hub.recoveries >= reads, {
      seen: () => hub.recoveries,
    });
    assert.equal(hub.recoveries, reads);
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
    { redis: r.redis, openReader: () => gate.reader(r.target), keys, log },
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
    await r.redis.xtrim(keys.globalOf(row.id), "MAXLEN", 1); // event 2 is gone, event 3 is not
    gate.open();
    await waitFor("the lag to be noticed", () => lags === 1, { timeoutMs: 3000 });
    assert.deepEqual(got, [1, 3]);
    assert.equal(hub.lags, 1);
    // Trimmed while the stream is quiet: noticed after a read that returns nothing.
    await gate.shut();
    await publishNext(pub, row);
    await r.redis.xtrim(keys.globalOf(row.id), "MAXLEN", 0);
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

/** A hub on a gated reader, subscribed to one owner, with the first event received. */
async function lossEnv(blockMs: number) {
  const r = await createTestRedis();
  const gate = new ReadGate();
  const keys = new EventKeys(new KeySpace(r.prefix));
  const hub = new OperationHub(
    { redis: r.redis, openReader: () => gate.reader(r.target), keys, log },
    { blockMs },
  );
  const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
  const row = fakeRow(crypto.randomUUID());
  const got: number[] = [];
  const state = { lags: 0 };
  await hub.subscribeOwner(row.owner_id, (e) => got.push(e.event.event_id));
  hub.onLag(() => state.lags++);
  await publishNext(pub, row);
  await waitFor("the first event", () => got.length === 1, { timeoutMs: 3000 });
  const waitGot = (n: number) =>
    waitFor(`${n} events`, () => got.length >= n, {
      timeoutMs: 3000,
      seen: () => ({ got, lags: state.lags }),
    });
  const lost = () =>
    waitFor("the reply to be lost", () => gate.lostReplies === 1, { timeoutMs: 3000 });
  const publish = async (n = 1) => {
    for (let i = 0; i < n; i++) await publishNext(pub, row);
  };
  /** Publishes `n` events while the hub cannot read, so that one reply holds them; loses it. */
  const loseHeld = async (how: "error" | "empty" | "first", n: number) => {
    await gate.shut();
    await publish(n);
    gate.loseNextReply(how);
    gate.open();
    await lost();
  };
  /** Loses the reply of the read the hub waits in, which the next event ends. */
  const loseLive = async (how: "error" | "empty" | "first") => {
    gate.loseNextReply(how);
    await publish();
    await lost();
  };
  /** Every event once, in order, and no lag reported. */
  const assertAll = (n: number) => {
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(state.lags, 0);
  };
  const close = async () => {
    gate.open();
    await hub.close();
    gate.disconnectAll();
    await r.cleanup();
  };
  return { gate, got, state, waitGot, publish, loseHeld, loseLive, assertAll, close };
}

Deno.test("a hub takes the entries of a reply it lost without an error from the stream once its reads find nothing, without a lag", async () => {
  const env = await lossEnv(200);
  try {
    await env.loseHeld("empty", 2);
    await env.waitGot(3);
    // Later events come through the group as before.
    await env.publish();
    await env.waitGot(4);
    env.assertAll(4);
  } finally {
    await env.close();
  }
});

Deno.test("a hub takes the entries of a read that failed after Redis answered it from the stream, without a lag", async () => {
  // Reads that block longer than the wait below: only the retry after the failure can find them.
  const env = await lossEnv(5000);
  try {
    await env.loseLive("error");
    await env.waitGot(2);
    await env.publish();
    await env.waitGot(3);
    env.assertAll(3);
  } finally {
    await env.close();
  }
});

Deno.test("an entry after entries the hub never got brings them first, in order, without a lag", async () => {
  const env = await lossEnv(200);
  try {
    // The reply holds events 2 and 3; the hub gets only 3.
    await env.loseHeld("first", 2);
    await env.waitGot(3);
    env.assertAll(3);
  } finally {
    await env.close();
  }
});

Deno.test("entries a catch-up took are not handed out again when the group delivers them", async () => {
  const env = await lossEnv(200);
  try {
    await env.loseHeld("error", 1);
    // Published while the hub waits to read again (100 ms): its catch-up takes this one too,
    // before the group delivers it.
    await env.publish();
    await env.waitGot(3);
    await env.publish();
    await env.waitGot(4);
    env.assertAll(4);
  } finally {
    await env.close();
  }
});

Deno.test("operations land on different partitions (on a cluster, on different masters), and a hub follows operations of every partition", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  const { hub, keys } = makeHub(r, readers);
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    assert.equal(keys.partitions, 8, "EVENT_PARTITIONS' default");
    const owner = crypto.randomUUID();
    // Operations until every partition has one (random ids: a few dozen suffice).
    const byPartition = new Map<number, OperationRow>();
    while (byPartition.size < keys.partitions) {
      const row = fakeRow(owner);
      byPartition.set(keys.partitionOf(row.id), row);
    }
    const got = new Map<string, number[]>();
    for (const row of byPartition.values()) {
      await hub.subscribeOperation(row.id, (e) => {
        got.set(row.id, [...got.get(row.id) ?? [], e.event.event_id]);
      });
    }
    for (let i = 0; i < 2; i++) {
      for (const row of byPartition.values()) await publishNext(pub, row, { progress: i });
    }
    await waitFor(
      "both events of an operation in every partition",
      () => [...byPartition.values()].every((row) => got.get(row.id)?.length === 2),
      {
        seen: () => Object.fromEntries(got),
      },
    );
    for (const [p, row] of byPartition) {
      assert.deepEqual(got.get(row.id), [1, 2], `partition ${p}`);
      // Each event went to its partition's stream and nowhere else.
      for (let q = 0; q < keys.partitions; q++) {
        const entries = await r.redis.xrange(keys.global(q), "-", "+");
        const mine = entries.filter(([, f]) => f.includes(row.id)).length;
        assert.equal(mine, p === q ? 2 : 0, `operation of partition ${p} in stream ${q}`);
      }
      assert.equal(await r.redis.get(keys.seq(row.id)), "2");
    }
    if (testRedisIsCluster()) {
      // The partitions' slots are served by more than one master.
      const slots = await r.redis.call("CLUSTER", ["SLOTS"]) as [
        number,
        number,
        [string, number],
      ][];
      const masterOf = (key: string) => {
        const slot = keySlot(key);
        const range = slots.find(([lo, hi]) => slot >= lo && slot <= hi)!;
        return `${range[2][0]}:${range[2][1]}`;
      };
      const masters = new Set(
        Array.from({ length: keys.partitions }, (_, p) => masterOf(keys.global(p))),
      );
      assert.ok(masters.size > 1, `partitions on ${[...masters].join(", ")}`);
    }
  } finally {
    await hub.close();
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

Deno.test("a process configured with another partition count refuses to publish or read events", async () => {
  const r = await createTestRedis();
  const readers: Redis[] = [];
  try {
    const pub8 = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const row = fakeRow(crypto.randomUUID());
    await publishNext(pub8, row);
    const pub4 = new EventPublisher(r.redis, new KeySpace(r.prefix), { partitions: 4 });
    await assert.rejects(
      publishNext(pub4, row),
      /EVENT_PARTITIONS is 4 but the events in Redis are sharded over 8 partitions/,
    );
    const keys4 = new EventKeys(new KeySpace(r.prefix), { partitions: 4 });
    const hub = new OperationHub({
      redis: r.redis,
      openReader: () => {
        const reader = createRedis(r.target, { name: "hub-test", blocking: true });
        readers.push(reader);
        return reader;
      },
      keys: keys4,
      log,
    }, { blockMs: 200 });
    await assert.rejects(hub.subscribeOwner(row.owner_id, () => {}), /EVENT_PARTITIONS is 4/);
    await hub.close();
    assert.equal(readers.length, 0, "no reader opened");
    // The same count goes on publishing.
    assert.equal((await publishNext(pub8, row))!.event_id, 2);
    assert.throws(() => new EventKeys(new KeySpace(r.prefix), { partitions: 0 }), RangeError);
  } finally {
    readers.forEach((c) => c.disconnect());
    await r.cleanup();
  }
});

export function fakeRow(owner: string, over: Partial<OperationRow> = {}): OperationRow {
  return operationRowFixture({ owner_id: owner, ...over });
}

Deno.test("entryIdAfter() orders stream entry ids by time, then sequence, as numbers", () => {
  assert.equal(entryIdAfter("10-0", "9-5"), true);
  assert.equal(entryIdAfter("9-10", "9-9"), true);
  assert.equal(entryIdAfter("9-9", "9-9"), false);
  assert.equal(entryIdAfter("1-1", "1796509401418-0"), false);
  assert.equal(entryIdAfter("1796509401418-0", "0-0"), true);
});
