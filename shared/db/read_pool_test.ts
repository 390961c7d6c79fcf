/**
 * ReadPool's routing over in-memory databases: reads go to the replica; a replica that cannot
 * serve (network error, shutdown, recovery conflict) sends the statement to the primary, counted,
 * and is skipped for `retryAfterMs`; a statement's own error (a missing table) is not retried on
 * the primary. The real replica is tested in tests/search_read_replica_test.ts.
 */
import assert from "node:assert/strict";
import type { Db, Queryable } from "./db.ts";
import { ReadPool } from "./read_pool.ts";
import { getLogger } from "../log/logger.ts";

function fakeDb(name: string, seen: string[], fail?: () => unknown): Db {
  const q: Queryable = {
    query<T>(sql: string): Promise<T[]> {
      seen.push(`${name}:${sql}`);
      const err = fail?.();
      if (err) return Promise.reject(err);
      return Promise.resolve([{ from: name }] as T[]);
    },
  };
  return {
    driver: "postgres",
    query: q.query,
    transaction: (fn) => fn(q),
    exec: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const sqlError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

Deno.test("ReadPool reads the replica, falls back on its outage only, and skips it for a while", async () => {
  const seen: string[] = [];
  let failure: unknown;
  let clock = 1000;
  const fallbacks: string[] = [];
  const pool = new ReadPool(
    fakeDb("replica", seen, () => failure),
    fakeDb("primary", seen),
    {
      log: getLogger("test"),
      retryAfterMs: 5000,
      now: () => clock,
      onFallback: (r) => fallbacks.push(r),
    },
  );
  assert.deepEqual(await pool.query("select 1"), [{ from: "replica" }]);
  assert.deepEqual(await pool.transaction((tx) => tx.query("select 2")), [{ from: "replica" }]);

  // A statement's own error is the caller's: not retried on the primary.
  failure = sqlError("42P01");
  await assert.rejects(pool.query("select * from missing"), /42P01/);
  failure = new TypeError("a bug in a callback");
  await assert.rejects(pool.query("select 3"), TypeError);
  assert.deepEqual(fallbacks, []);
  assert.equal(pool.replicaDown, false);

  // Unreachable: the primary answers, and the replica is skipped for retryAfterMs.
  for (
    const err of [
      sqlError("ECONNREFUSED"),
      Object.assign(new Error("closed"), { code: "CONNECTION_CLOSED" }),
      sqlError("57P01"),
      sqlError("57P03"),
      sqlError("08006"),
      sqlError("40001"),
    ]
  ) {
    failure = err;
    clock += 10_000;
    seen.length = 0;
    assert.deepEqual(await pool.query("select 4"), [{ from: "primary" }], String(err));
    assert.deepEqual(seen, ["replica:select 4", "primary:select 4"]);
    assert.equal(pool.replicaDown, true);
  }
  failure = undefined;
  seen.length = 0;
  clock += 4999;
  assert.deepEqual(await pool.query("select 5"), [{ from: "primary" }]);
  assert.deepEqual(seen, ["primary:select 5"], "skipped within retryAfterMs");
  clock += 2;
  assert.deepEqual(await pool.query("select 6"), [{ from: "replica" }]);
  assert.equal(pool.replicaDown, false);
  assert.deepEqual(fallbacks, ["error", "error", "error", "error", "error", "error", "skipped"]);
});
