import assert from "node:assert/strict";
import { SnapshotReader } from "./snapshot_reader.ts";
import { EventPublisher } from "./event_publisher.ts";
import { createTestDb } from "../testing/db.ts";
import { createTestRedis } from "../testing/redis.ts";
import { writeAndPublish } from "../testing/events.ts";
import { KeySpace } from "../redis/redis.ts";
import type { Db, Queryable, Row, SqlParam } from "../db/db.ts";
import { insertOperation } from "../operations/operations.ts";

async function seedOperations(db: Db, n: number): Promise<string[]> {
  const user = crypto.randomUUID();
  await db.query("insert into users (id, username, password_hash) values ($1, 'u', 'x')", [user]);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const op = await insertOperation(db, {
      collectionId: crypto.randomUUID(),
      ownerId: user,
      type: "index",
    });
    ids.push(op.id);
  }
  return ids;
}

/** A Queryable that counts statements, and holds each result back until `hold` resolves. */
class Counting implements Queryable {
  statements = 0;
  /** Resolved when a statement has run (its result is held back while `hold` is pending). */
  ran: Promise<void>;
  #ran!: () => void;
  hold: Promise<void> = Promise.resolve();
  failNext = false;

  constructor(readonly db: Queryable) {
    this.ran = new Promise((r) => (this.#ran = r));
  }

  async query<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
    this.statements++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("database away");
    }
    const rows = await this.db.query<T>(sql, params);
    this.#ran();
    this.ran = new Promise((r) => (this.#ran = r));
    await this.hold;
    return rows;
  }
}

Deno.test("SnapshotReader: calls made while a read runs share the next read; each caller gets its own rows in the order asked", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const ids = await seedOperations(t.db, 5);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    for (const [i, id] of ids.entries()) {
      for (let n = 0; n <= i; n++) await writeAndPublish(t.db, pub, id, { progress: n });
    }
    const db = new Counting(t.db);
    const reader = new SnapshotReader(db, r.redis, pub.keys);
    const missing = crypto.randomUUID();
    // 50 sockets of 5 operations opening in one turn, plus one asking for two ids and an unknown.
    const calls = Array.from({ length: 50 }, (_, k) => reader.read([ids[k % 5]!]));
    const several = reader.read([ids[4]!, missing, ids[1]!]);
    const results = await Promise.all(calls);
    for (const [k, got] of results.entries()) {
      assert.deepEqual(got.map((s) => [s.row.id, s.eventId]), [[ids[k % 5], (k % 5) + 1]]);
    }
    assert.deepEqual((await several).map((s) => s.row.id), [ids[4], ids[1]]);
    // The first call's read started at once, alone; every other call waited for the second.
    assert.equal(db.statements, 2);
    assert.equal(reader.reads, 2);
    assert.deepEqual(await reader.read([]), []);
    assert.equal(reader.reads, 2);
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("SnapshotReader: a call made while a read runs is served by a read that starts after it, never by the running one", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const [id] = await seedOperations(t.db, 1);
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    await writeAndPublish(t.db, pub, id!, { progress: 10 });
    const db = new Counting(t.db);
    let release!: () => void;
    db.hold = new Promise((resolve) => (release = resolve));
    const reader = new SnapshotReader(db, r.redis, pub.keys);
    const first = reader.read([id!]);
    // The first read has run (its result held back): the row changes, then a second caller asks.
    await db.ran;
    await writeAndPublish(t.db, pub, id!, { progress: 20 });
    const second = reader.read([id!]);
    release();
    const [a] = await first;
    const [b] = await second;
    assert.deepEqual([a!.row.progress, a!.eventId], [10, 1]);
    assert.deepEqual([b!.row.progress, b!.eventId], [20, 2]);
    assert.equal(reader.reads, 2);
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});

Deno.test("SnapshotReader: a batch takes at most maxIds ids (a larger call alone); a failed read fails its callers only", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  try {
    const ids = await seedOperations(t.db, 4);
    const keys = new EventPublisher(r.redis, new KeySpace(r.prefix)).keys;
    const db = new Counting(t.db);
    const reader = new SnapshotReader(db, r.redis, keys, { maxIds: 2 });
    const asked = [[ids[0]!], [ids[1]!], [ids[2]!, ids[1]!], [ids[3]!], ids, [ids[0]!]];
    const got = await Promise.all(asked.map((a) => reader.read(a)));
    assert.deepEqual(got.map((g) => g.map((s) => s.row.id)), asked);
    // [0] alone at once; then [1] + [2, 1] (2 ids); [3] (all four would pass 2); all four, with
    // the last [0] (no id the batch lacks).
    assert.equal(reader.reads, 4);

    db.failNext = true;
    const failing = reader.read([ids[0]!]);
    const after = reader.read([ids[1]!]);
    await assert.rejects(failing, /database away/);
    assert.deepEqual((await after).map((s) => s.row.id), [ids[1]]);
    assert.throws(() => new SnapshotReader(db, r.redis, keys, { maxIds: 0 }), /maxIds/);
  } finally {
    await r.cleanup();
    await t.cleanup();
  }
});
