import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { EventPublisher, readOperationEvents } from "./event_publisher.ts";
import { createTestDb } from "../testing/db.ts";
import { createTestRedis } from "../testing/redis.ts";
import { KeySpace } from "../redis/redis.ts";
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

Deno.test("EventPublisher gives ids 1..n without gaps or repeats under concurrent writers", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const row = await seedOperation(t.db);
    // Three "processes": their own connections, their own copies of the row.
    const conns = [0, 1, 2].map(() => new Redis(r.url));
    const pubs = conns.map((c) => new EventPublisher(c, new KeySpace(r.prefix)));
    await Promise.all(
      pubs.map(async (p) => {
        for (let i = 0; i < 40; i++) await p.publish(t.db, { ...row, progress: i });
      }),
    );
    const { events, complete } = await readOperationEvents(r.redis, pubs[0]!.keys, row.id);
    assert.equal(complete, true);
    assert.deepEqual(events.map((e) => e.event_id), Array.from({ length: 120 }, (_, i) => i + 1));
    const [pg] = await t.db.query<{ event_seq: number }>(
      "select event_seq from operations where id = $1",
      [
        row.id,
      ],
    );
    assert.equal(pg!.event_seq, 120);
    // The global stream carries every event too, with the owner for fan-out.
    const global = await r.redis.xrange(pubs[0]!.keys.global, "-", "+");
    assert.equal(global.length, 120);
    assert.ok(global[0]![1].includes(row.owner_id));
    conns.forEach((c) => c.disconnect());
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("readOperationEvents() resumes after `since` and says when history is incomplete", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const row = await seedOperation(t.db);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { operationStreamMaxLen: 5 });
    for (let i = 0; i < 8; i++) await pub.publish(t.db, row);
    const later = await readOperationEvents(r.redis, pub.keys, row.id, 5);
    assert.deepEqual(later.events.map((e) => e.event_id), [6, 7, 8]);
    assert.equal(later.complete, true);
    const early = await readOperationEvents(r.redis, pub.keys, row.id, 1);
    assert.equal(early.complete, false, "events 2 and 3 were trimmed");
    const none = await readOperationEvents(r.redis, pub.keys, row.id, 8);
    assert.deepEqual(none, { events: [], complete: true });
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("a terminal event sets an expiry on the operation's stream", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const row = await seedOperation(t.db);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { retainSeconds: 3600 });
    await pub.publish(t.db, row);
    assert.equal(await r.redis.ttl(pub.keys.stream(row.id)), -1);
    const done = await pub.publish(t.db, { ...row, status: "completed", progress: 100 });
    assert.equal(done.type, "OPERATION_COMPLETED");
    const ttl = await r.redis.ttl(pub.keys.stream(row.id));
    assert.ok(ttl > 3500 && ttl <= 3600, String(ttl));
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test({
  name: "after FLUSHALL the next event id is still above the last one",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const t = await createTestDb("postgres");
    // FLUSHALL needs a Redis of its own: the shared one serves other tests meanwhile.
    const server = await startPrivateRedis();
    const redis = new Redis(server.url);
    try {
      const row = await seedOperation(t.db);
      const pub = new EventPublisher(redis, new KeySpace("semantik:"));
      for (let i = 0; i < 5; i++) await pub.publish(t.db, row);
      await redis.flushall();
      const [fresh] = await t.db.query<OperationRow>("select * from operations where id = $1", [
        row.id,
      ]);
      const next = await pub.publish(t.db, fresh!);
      assert.equal(next.event_id, 6);
    } finally {
      redis.disconnect();
      await server.stop();
      await t.cleanup();
    }
  },
});
