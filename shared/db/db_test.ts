import assert from "node:assert/strict";
import { BinaryParam, dbErrorInfo, isUniqueViolation } from "./db.ts";
import { loadMigrations, migrate, splitStatements } from "./migrate.ts";
import { connectPostgres } from "./postgres_driver.ts";
import { createServerTestDb, createTestDb, randomSuffix, testDatabaseUrl } from "../testing/db.ts";

// One suite, both drivers: every statement the project writes must behave the same on each.
for (const driver of ["postgres", "pglite"] as const) {
  Deno.test(`[${driver}] query() returns the same JS types on both drivers`, async () => {
    const t = await createTestDb(driver, { migrate: false });
    try {
      const [row] = await t.db.query<Record<string, unknown>>(
        `select $1::int as i, 12345678901::bigint as big, count(*) as n, $2::text as s,
                $3::boolean as b, $4::timestamptz as ts, $5::jsonb as j, $6::text[] as arr,
                null::text as nothing, 1.5::float8 as f, $7::uuid as id`,
        [
          42,
          "héllo 'quoted'",
          true,
          new Date("2026-01-02T03:04:05.678Z"),
          { a: [1, 2], b: "x" },
          ["x", "y"],
          "5f0c6a3e-8d4b-4c2b-9a51-0d9f6f7e2b10",
        ],
      );
      assert.ok(row);
      assert.equal(row.i, 42);
      assert.equal(row.big, 12345678901);
      assert.equal(row.n, 1);
      assert.equal(row.s, "héllo 'quoted'");
      assert.equal(row.b, true);
      assert.ok(row.ts instanceof Date);
      assert.equal((row.ts as Date).toISOString(), "2026-01-02T03:04:05.678Z");
      assert.deepEqual(row.j, { a: [1, 2], b: "x" });
      assert.deepEqual(row.arr, ["x", "y"]);
      assert.equal(row.nothing, null);
      assert.equal(row.f, 1.5);
      assert.equal(row.id, "5f0c6a3e-8d4b-4c2b-9a51-0d9f6f7e2b10");
    } finally {
      await t.cleanup();
    }
  });

  Deno.test(`[${driver}] a BinaryParam reaches the server in binary, beside text parameters`, async () => {
    const t = await createTestDb(driver, { migrate: false });
    try {
      // float4[] (oid 1021) of float4 (oid 700): [1.5, -2] in array_recv's layout.
      const floats = Uint8Array.from([
        ...[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 188, 0, 0, 0, 2, 0, 0, 0, 1],
        ...[0, 0, 0, 4, 0x3f, 0xc0, 0, 0],
        ...[0, 0, 0, 4, 0xc0, 0, 0, 0],
      ]);
      const query = `select $1::float4[]::text as a, $2::text as s, $3::int4 as n,
                            encode($4::bytea, 'hex') as h, $5::int4 as t`;
      const params = [
        new BinaryParam(1021, floats),
        "x",
        new BinaryParam(23, Uint8Array.of(1, 2, 3, 4)),
        Uint8Array.of(0, 0xff, 0x5c),
        42, // text, whose bytes read as binary would be no int4
      ];
      // Twice: the second runs the statement the first prepared.
      for (let i = 0; i < 2; i++) {
        const [row] = await t.db.query<Record<string, unknown>>(query, params);
        assert.deepEqual(row, { a: "{1.5,-2}", s: "x", n: 0x01020304, h: "00ff5c", t: 42 });
      }
      assert.throws(() => new BinaryParam(0, floats), /not a type oid: 0/);
    } finally {
      await t.cleanup();
    }
  });

  Deno.test(`[${driver}] transaction() commits on success and rolls back on throw`, async () => {
    const t = await createTestDb(driver, { migrate: false });
    try {
      await t.db.exec("create table kv (k text primary key, v int not null)");
      await t.db.transaction(async (tx) => {
        await tx.query("insert into kv values ($1, $2)", ["a", 1]);
        await tx.query("insert into kv values ($1, $2)", ["b", 2]);
      });
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await tx.query("insert into kv values ($1, $2)", ["c", 3]);
          throw new Error("nope");
        }),
        /nope/,
      );
      const rows = await t.db.query<{ k: string }>("select k from kv order by k");
      assert.deepEqual(rows.map((r) => r.k), ["a", "b"]);
    } finally {
      await t.cleanup();
    }
  });

  Deno.test(`[${driver}] migrate() applies once, and again is a no-op`, async () => {
    const t = await createTestDb(driver, { migrate: false });
    try {
      const all = await loadMigrations();
      assert.ok(all.length >= 1);
      assert.deepEqual(await migrate(t.db), all.map((m) => m.version));
      assert.deepEqual(await migrate(t.db), []);
      const tables = await t.db.query<{ table_name: string }>(
        `select table_name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'
            and table_name not like 'chunks_p%' order by 1`,
      );
      assert.deepEqual(tables.map((r) => r.table_name), [
        "api_keys",
        "chunks",
        "collection_sources",
        "collections",
        "documents",
        "operations",
        "schema_migrations",
        "staged_chunks",
        "staged_documents",
        "users",
        "webhook_deliveries",
        "webhooks",
      ]);
      const [part] = await t.db.query<{ n: number }>(
        `select count(*) as n from pg_inherits i join pg_class c on c.oid = i.inhparent
          where c.relname = 'chunks' and c.relnamespace = current_schema()::regnamespace`,
      );
      assert.equal(part?.n, 16);
    } finally {
      await t.cleanup();
    }
  });

  Deno.test(`[${driver}] schema enforces lowercase statuses, uniqueness and keeps operations`, async () => {
    const t = await createTestDb(driver);
    try {
      const db = t.db;
      const user = crypto.randomUUID();
      const coll = crypto.randomUUID();
      await db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
        user,
        "alice",
      ]);
      await db.query(
        `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
           chunk_overlap, vector_store_name) values ($1, $2, 'docs', 'm', 384, 200, 40, 'v1')`,
        [coll, user],
      );
      const dup = await db.query(
        `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
           chunk_overlap, vector_store_name) values ($1, $2, 'docs', 'm', 384, 200, 40, 'v2')`,
        [crypto.randomUUID(), user],
      ).catch((e) => e);
      assert.ok(isUniqueViolation(dup, "collections_owner_name_key"), String(dup));

      const upper = await db.query(
        `insert into operations (id, collection_id, owner_id, type, status)
         values ($1, $2, $3, 'index', 'PENDING')`,
        [crypto.randomUUID(), coll, user],
      ).catch((e) => e);
      assert.equal(dbErrorInfo(upper)?.code, "23514");

      const op1 = crypto.randomUUID();
      await db.query(
        `insert into operations (id, collection_id, owner_id, type, config)
         values ($1, $2, $3, 'index', $4::jsonb)`,
        [op1, coll, user, { source_id: "s" }],
      );
      const second = await db.query(
        `insert into operations (id, collection_id, owner_id, type) values ($1, $2, $3, 'sync')`,
        [crypto.randomUUID(), coll, user],
      ).catch((e) => e);
      assert.ok(isUniqueViolation(second, "operations_one_active_per_collection"));

      const doc = crypto.randomUUID();
      await db.query(
        `insert into documents (id, collection_id, uri, status) values ($1, $2, '/a.txt', 'skipped')`,
        [doc, coll],
      );
      await db.query(
        `insert into chunks (collection_id, id, document_id, ordinal, text)
         values ($1, $2, $3, 0, 'hello')`,
        [coll, crypto.randomUUID(), doc],
      );
      await db.query("update operations set status = 'completed' where id = $1", [op1]);
      await db.query("delete from collections where id = $1", [coll]);
      const [counts] = await db.query<{ docs: number; chunks: number; ops: number }>(
        `select (select count(*) from documents) as docs, (select count(*) from chunks) as chunks,
                (select count(*) from operations where collection_id = $1) as ops`,
        [coll],
      );
      assert.deepEqual(counts, { docs: 0, chunks: 0, ops: 1 });
    } finally {
      await t.cleanup();
    }
  });
}

Deno.test("[postgres] two migrator processes at once leave one correct schema", async () => {
  const t = await createServerTestDb({ migrate: false });
  try {
    const main = new URL("./migrate_main.ts", import.meta.url).pathname;
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main],
        env: { DATABASE_URL: t.url!, LOG_LEVEL: "warn", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const results = await Promise.all([run(), run(), run()]);
    for (const r of results) {
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    }
    const versions = await t.db.query<{ version: number }>(
      "select version from schema_migrations order by version",
    );
    assert.deepEqual(
      versions.map((v) => v.version),
      (await loadMigrations()).map((m) => m.version),
    );
    const [{ n } = { n: 0 }] = await t.db.query<{ n: number }>(
      `select count(*) as n from information_schema.tables where table_schema = $1`,
      [t.schema!],
    );
    // 12 tables (chunks is the partitioned parent; api_keys, webhooks and webhook_deliveries
    // came with issue 24) + 16 chunk partitions
    assert.equal(n, 28);
  } finally {
    await t.cleanup();
  }
});

Deno.test("[postgres] migrate() refuses a migration that changed after it was applied", async () => {
  const t = await createServerTestDb({ migrate: false });
  try {
    const v = 9000 + Math.floor(Math.random() * 999);
    const m = { version: v, name: "probe", sql: "create table probe (x int)", checksum: "a" };
    await migrate(t.db, [m]);
    await assert.rejects(migrate(t.db, [{ ...m, checksum: "b" }]), /changed after it was applied/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("connectPostgres() reports an unreachable server as a rejected query", async () => {
  const db = connectPostgres(`postgres://nobody@127.0.0.1:1/${randomSuffix()}`, { max: 1 });
  try {
    await assert.rejects(db.query("select 1"));
  } finally {
    await db.close();
  }
  assert.ok(testDatabaseUrl().startsWith("postgres"));
});

Deno.test("splitStatements() ignores semicolons in strings, comments and dollar quotes", () => {
  const parts = splitStatements(`
    -- a comment; with a semicolon
    create table a (x text default 'a;b');
    /* block; comment */
    create function f() returns int as $$ select 1; $$ language sql;
    select "we;ird";
  `);
  assert.deepEqual(parts, [
    "create table a (x text default 'a;b')",
    "create function f() returns int as $$ select 1; $$ language sql",
    'select "we;ird"',
  ]);
});

Deno.test("splitStatements() reads dollar-quote tags with digits, and $n parameters as none", () => {
  const parts = splitStatements(`
    create function f1() returns int language plpgsql as $body1$
      begin perform 1; return 1; end
    $body1$;
    do $_x9$ begin raise notice 'a;b'; end $_x9$;
    select $1::int, a$b from t where c = $2;
    select 3`);
  assert.equal(parts.length, 4, JSON.stringify(parts));
  assert.match(parts[0]!, /^create function f1\(\).*\$body1\$$/s);
  assert.match(parts[1]!, /^do \$_x9\$ begin raise notice 'a;b'; end \$_x9\$$/);
  assert.equal(parts[2], "select $1::int, a$b from t where c = $2");
  assert.equal(parts[3], "select 3");
});
