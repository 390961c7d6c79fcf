import assert from "node:assert/strict";
import { connectPostgres } from "../../shared/db/postgres_driver.ts";
import { startPgliteServer } from "./pglite_server.ts";

Deno.test("pglite server: concurrent parameterised queries from two pools never mix", async () => {
  await using server = await startPgliteServer();
  for (const prepare of [false, true]) {
    const a = connectPostgres(server.url, { max: 6, prepare });
    const b = connectPostgres(server.url, { max: 6, prepare });
    try {
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          (i % 3 === 0 ? b : a).query<{ a: number; b: string }>(
            i % 2 ? "select $1::int as a, $2::text as b" : "select $2::text as b, $1::int + 0 as a",
            [i, `x${i}`],
          )),
      );
      results.forEach((rows, i) =>
        assert.deepEqual(rows, [{ a: i, b: `x${i}` }], `prepare ${prepare}`)
      );
    } finally {
      await a.close();
      await b.close();
    }
  }
});

Deno.test("pglite server: another connection never sees half of a transaction", async () => {
  await using server = await startPgliteServer();
  const writer = connectPostgres(server.url, { max: 2 });
  const reader = connectPostgres(server.url, { max: 4 });
  try {
    await writer.query("create table pairs (n int not null)");
    const writes = (async () => {
      for (let i = 0; i < 25; i++) {
        await writer.transaction(async (tx) => {
          await tx.query("insert into pairs values ($1)", [i]);
          await tx.query("insert into pairs values ($1)", [i]);
        });
      }
    })();
    const counts: number[] = [];
    let writing = true;
    writes.finally(() => writing = false);
    while (writing) {
      const rows = await Promise.all(
        [0, 1, 2].map(() => reader.query<{ n: number }>("select count(*)::int as n from pairs")),
      );
      counts.push(...rows.map((r) => r[0]!.n));
    }
    await writes;
    assert.ok(counts.length > 0);
    for (const n of counts) assert.equal(n % 2, 0, `saw ${n} rows: half a transaction`);
    assert.deepEqual(await reader.query("select count(*)::int as n from pairs"), [{ n: 50 }]);
  } finally {
    await writer.close();
    await reader.close();
  }
});

/** A raw protocol client: startup, one simple query, then it hangs up without Terminate. */
async function openTransactionAndVanish(port: number, sql: string): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const enc = new TextEncoder();
    const params = enc.encode("user\0postgres\0database\0postgres\0\0");
    const startup = new Uint8Array(8 + params.length);
    new DataView(startup.buffer).setInt32(0, startup.length);
    new DataView(startup.buffer).setInt32(4, 196608);
    startup.set(params, 8);
    const q = enc.encode(sql + "\0");
    const query = new Uint8Array(5 + q.length);
    query[0] = 0x51;
    new DataView(query.buffer).setInt32(1, 4 + q.length);
    query.set(q, 5);
    await conn.write(startup);
    await readUntilReady(conn);
    await conn.write(query);
    const status = await readUntilReady(conn);
    assert.equal(status, "T", "the raw client should be inside a transaction");
  } finally {
    conn.close();
  }
}

/** Reads backend messages until ReadyForQuery; returns its transaction status. */
async function readUntilReady(conn: Deno.Conn): Promise<string> {
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  for (;;) {
    let at = 0;
    while (buf.length - at >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset + at + 1, 4).getInt32(0);
      if (buf.length - at < 1 + len) break;
      if (buf[at] === 0x5a) return String.fromCharCode(buf[at + 5]!);
      at += 1 + len;
    }
    buf = buf.slice(at);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("Cannot read from the PGlite server: connection closed");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  }
}

Deno.test("pglite server: a client that vanishes mid-transaction is rolled back", async () => {
  await using server = await startPgliteServer();
  const db = connectPostgres(server.url, { max: 2 });
  try {
    await db.query("create table t (n int)");
    await openTransactionAndVanish(server.port, "begin; insert into t values (1)");
    assert.deepEqual(await db.query("select count(*)::int as n from t"), [{ n: 0 }]);
    await db.query("insert into t values (2)");
    assert.deepEqual(await db.query("select n from t"), [{ n: 2 }]);
  } finally {
    await db.close();
  }
});

Deno.test("pglite server: pgvector is available and stop() is idempotent", async () => {
  const server = await startPgliteServer();
  const db = connectPostgres(server.url, { max: 1 });
  try {
    await db.query("create extension if not exists vector");
    const rows = await db.query<{ d: number }>("select '[1,0]'::vector <=> '[0,1]'::vector as d");
    assert.equal(rows[0]!.d, 1);
  } finally {
    await db.close();
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
  }
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
});

Deno.test("pglite server: a server that cannot start says why", async () => {
  const file = await Deno.makeTempFile();
  try {
    // A regular file where the database directory should be.
    await assert.rejects(
      startPgliteServer({ dataDir: `${file}/db` }),
      /Cannot start the PGlite server: it exited before listening: .*not a directory/s,
    );
  } finally {
    await Deno.remove(file);
  }
});
