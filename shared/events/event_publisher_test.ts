import { operationRowFixture } from "../testing/events.ts";
import assert from "node:assert/strict";
import {
  EVENT_RESERVATION,
  EventPublisher,
  readOperationEvents,
  readSnapshots,
} from "./event_publisher.ts";
import { createTestDb } from "../testing/db.ts";
import { createTestRedis } from "../testing/redis.ts";
import { publishNext, writeAndPublish } from "../testing/events.ts";
import { createRedis, KeySpace } from "../redis/redis.ts";
import { hasBinary, startPrivateRedis } from "../redis/private_server.ts";
import type { Db } from "../db/db.ts";
import type { OperationRow } from "../operations/operation_types.ts";
import { insertOperation } from "../operations/operations.ts";

async function seedOperation(db: Db): Promise<OperationRow> {
  const user = crypto.randomUUID();
  await db.query("insert into users (id, username, password_hash) values ($1, 'u', 'x')", [user]);
  return await insertOperation(db, {
    collectionId: crypto.randomUUID(),
    ownerId: user,
    type: "index",
  });
}

/** Writes `set` with a reservation, without publishing: the row a writer holds before publishing. */
async function reserve(db: Db, id: string, set: string): Promise<OperationRow> {
  const [row] = await db.query<OperationRow>(
    `update operations set ${set}, ${EVENT_RESERVATION} where id = $1 returning *`,
    [id],
  );
  return row!;
}

Deno.test("EventPublisher gives ids 1..n without gaps or repeats under concurrent writers; the last event is the row's last state", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const row = await seedOperation(t.db);
    // Three "processes": their own connections, writing the same row at once.
    const conns = [0, 1, 2].map(() => createRedis(r.target, { name: "test:publisher" }));
    const pubs = conns.map((c) => new EventPublisher(c, new KeySpace(r.prefix)));
    // The first event alone: with no counter yet an event's id is its write's reservation, so
    // had a later write's publish come first, ids would start above 1 (by design, and tested
    // below: "No counter yet"); from here each id is one more than the counter.
    await writeAndPublish(t.db, pubs[0]!, row.id, { message: "first" });
    await Promise.all(
      pubs.map(async (p, n) => {
        for (let i = 0; i < 40; i++) {
          await writeAndPublish(t.db, p, row.id, { message: `w${n} ${i}` });
        }
      }),
    );
    const { events, complete } = await readOperationEvents(r.redis, {
      keys: pubs[0]!.keys,
      operationId: row.id,
    });
    assert.equal(complete, true);
    // Events whose write was overtaken by a later one's publish are refused: no id is spent.
    assert.ok(events.length >= 41 && events.length <= 121, String(events.length));
    assert.deepEqual(events.map((e) => e.event_id), events.map((_, i) => i + 1));
    const [pg] = await t.db.query<OperationRow>("select * from operations where id = $1", [
      row.id,
    ]);
    assert.equal(pg!.event_seq, 121, "every write reserved one");
    assert.equal(events.at(-1)!.message, pg!.message, "the last write's event is the last one");
    // The global stream carries every event too, with the owner for fan-out and its position.
    const global = await r.redis.xrange(pubs[0]!.keys.globalOf(row.id), "-", "+");
    assert.equal(global.length, events.length);
    assert.ok(global[0]![1].includes(row.owner_id));
    const g = global.map(([, f]) => Number(f[f.indexOf("g") + 1]));
    assert.deepEqual(g, g.map((_, i) => i + 1));
    conns.forEach((c) => c.disconnect());
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("an event whose write committed before one already published is refused: nothing follows the terminal event, whose expiry stays", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const op = await seedOperation(t.db);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { retainSeconds: 3600 });
    const progress = await reserve(t.db, op.id, "status = 'processing', progress = 40");
    const failed = await reserve(t.db, op.id, "status = 'failed', error_message = 'boom'");
    // No counter yet: the id is the write's reservation (write 1 may have published id 1).
    assert.equal((await pub.publish(failed))?.event_id, 2);
    assert.equal(await pub.publish(progress), undefined, "stale: refused");
    assert.equal(await pub.publish(failed), undefined, "a retry of the same write: refused");
    const { events } = await readOperationEvents(r.redis, { keys: pub.keys, operationId: op.id });
    assert.deepEqual(events.map((e) => [e.event_id, e.type]), [[2, "OPERATION_FAILED"]]);
    for (const key of [pub.keys.stream(op.id), pub.keys.seq(op.id)]) {
      const ttl = await r.redis.ttl(key);
      assert.ok(ttl > 3500 && ttl <= 3600, `${key}: ${ttl}`);
    }
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("publish() refuses a row that was not written with a reservation", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const op = await seedOperation(t.db);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    await assert.rejects(pub.publish(op), /was not written with event_seq = event_seq \+ 1/);
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("readOperationEvents() resumes after `since` and says when history is incomplete", async () => {
  const r = await createTestRedis();
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { operationStreamMaxLen: 5 });
    const row = operationRowFixture();
    for (let i = 0; i < 8; i++) await publishNext(pub, row);
    const later = await readOperationEvents(r.redis, {
      keys: pub.keys,
      operationId: row.id,
      since: 5,
    });
    assert.deepEqual(later.events.map((e) => e.event_id), [6, 7, 8]);
    assert.equal(later.complete, true);
    const early = await readOperationEvents(r.redis, {
      keys: pub.keys,
      operationId: row.id,
      since: 1,
    });
    assert.equal(early.complete, false, "events 2 and 3 were trimmed");
    const none = await readOperationEvents(r.redis, {
      keys: pub.keys,
      operationId: row.id,
      since: 8,
    });
    assert.deepEqual(none, { events: [], complete: true });
    // Without a counter (flushed, or nothing published yet) there is nothing to replay.
    await r.redis.del(pub.keys.seq(row.id), pub.keys.stream(row.id));
    assert.deepEqual(
      await readOperationEvents(r.redis, { keys: pub.keys, operationId: row.id, since: 8 }),
      {
        events: [],
        complete: true,
      },
    );
  } finally {
    await r.cleanup();
  }
});

Deno.test("a terminal event sets an expiry on the operation's stream", async () => {
  const r = await createTestRedis();
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { retainSeconds: 3600 });
    const row = operationRowFixture();
    await publishNext(pub, row);
    assert.equal(await r.redis.ttl(pub.keys.stream(row.id)), -1);
    const done = await publishNext(pub, row, { status: "completed", progress: 100 });
    assert.equal(done?.type, "OPERATION_COMPLETED");
    const ttl = await r.redis.ttl(pub.keys.stream(row.id));
    assert.ok(ttl > 3500 && ttl <= 3600, String(ttl));
  } finally {
    await r.cleanup();
  }
});

Deno.test({
  name: "after FLUSHALL the next event id is still above the last one",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const t = await createTestDb("postgres");
    // FLUSHALL needs a Redis of its own: the shared one serves other tests meanwhile.
    const server = await startPrivateRedis();
    const redis = createRedis(server.url, { name: "test:publisher" });
    try {
      const row = await seedOperation(t.db);
      const pub = new EventPublisher(redis, new KeySpace("semantik:"));
      for (let i = 0; i < 5; i++) await writeAndPublish(t.db, pub, row.id, { progress: i });
      await redis.flushall();
      const next = await writeAndPublish(t.db, pub, row.id, { progress: 9 });
      assert.equal(next.event_seq, 6);
      const { events } = await readOperationEvents(redis, { keys: pub.keys, operationId: row.id });
      assert.deepEqual(events.map((e) => [e.event_id, e.progress]), [[6, 9]]);
    } finally {
      redis.disconnect();
      await server.stop();
      await t.cleanup();
    }
  },
});

Deno.test("publish_event: ids stay gapless when only the counter is lost, and start at the reservation when the history is gone", async () => {
  const r = await createTestRedis();
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const row = operationRowFixture();
    for (let i = 0; i < 3; i++) await publishNext(pub, row, { progress: i });
    // Write 4 reserved a number but its publish never happened; write 5's does, after the
    // counter alone was lost: the stream still says the last id was 3.
    row.event_seq = 4;
    await r.redis.del(pub.keys.seq(row.id));
    assert.equal((await publishNext(pub, row, { progress: 5 }))?.event_id, 4);
    assert.equal(await r.redis.get(pub.keys.seq(row.id)), "4");
    // Counter and stream gone (a flush, or the history expired): the id is the reservation,
    // above every id published so far.
    await r.redis.del(pub.keys.seq(row.id), pub.keys.stream(row.id));
    row.event_seq = 9;
    assert.equal((await publishNext(pub, row, { progress: 10 }))?.event_id, 10);
    const { events, complete } = await readOperationEvents(r.redis, {
      keys: pub.keys,
      operationId: row.id,
      since: 4,
    });
    assert.deepEqual(events.map((e) => [e.event_id, e.progress]), [[10, 10]]);
    assert.equal(complete, false, "ids 5..9 are not in the stream");
  } finally {
    await r.cleanup();
  }
});

Deno.test("readOperationEvents(): a counter above `since` with nothing retained is an incomplete history", async () => {
  const r = await createTestRedis();
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    const row = operationRowFixture();
    for (let i = 0; i < 4; i++) await publishNext(pub, row);
    await r.redis.del(pub.keys.stream(row.id));
    assert.deepEqual(
      await readOperationEvents(r.redis, { keys: pub.keys, operationId: row.id, since: 2 }),
      {
        events: [],
        complete: false,
      },
    );
    assert.deepEqual(
      await readOperationEvents(r.redis, { keys: pub.keys, operationId: row.id, since: 4 }),
      {
        events: [],
        complete: true,
      },
    );
  } finally {
    await r.cleanup();
  }
});

Deno.test("an operation that runs again after its terminal event keeps its history again (no expiry)", async () => {
  const r = await createTestRedis();
  try {
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { retainSeconds: 3600 });
    const row = operationRowFixture();
    await publishNext(pub, row, { status: "failed", error_message: "boom" });
    assert.ok((await r.redis.ttl(pub.keys.stream(row.id))) > 0);
    // A requeued dead letter runs it again: a later write, published.
    const again = await publishNext(pub, row, { status: "processing", run_epoch: 1 });
    assert.equal(again?.event_id, 2);
    assert.equal(await r.redis.ttl(pub.keys.stream(row.id)), -1);
    assert.equal(await r.redis.ttl(pub.keys.seq(row.id)), -1);
  } finally {
    await r.cleanup();
  }
});

Deno.test("readSnapshots(): a snapshot is labelled with the counter, or without one (Redis lost it) with the row's reservation", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const op = await seedOperation(t.db);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    for (let i = 1; i <= 3; i++) await writeAndPublish(t.db, pub, op.id, { progress: i });
    const [kept] = await readSnapshots(t.db, {
      redis: r.redis,
      keys: pub.keys,
      operationIds: [op.id],
    });
    assert.deepEqual([kept!.eventId, kept!.counter, kept!.row.progress], [3, 3, 3]);
    // A write whose publish failed, then Redis lost the counter: the row's reservation (4) is
    // the id its content covers, and the next event's id will be above it.
    await reserve(t.db, op.id, "progress = 4");
    await r.redis.del(pub.keys.seq(op.id), pub.keys.stream(op.id));
    const [lost] = await readSnapshots(t.db, {
      redis: r.redis,
      keys: pub.keys,
      operationIds: [op.id],
    });
    assert.deepEqual([lost!.eventId, lost!.counter, lost!.row.progress], [4, null, 4]);
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});
