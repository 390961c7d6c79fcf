import assert from "node:assert/strict";
import { loadMigrations, migrate } from "./migrate.ts";
import { openPglite } from "./pglite_driver.ts";

Deno.test("migration 0010 marks the collections that hold chunks as needing the lexical backfill", async () => {
  const db = await openPglite();
  try {
    const all = await loadMigrations();
    await migrate(db, all.filter((m) => m.version < 10));
    const user = crypto.randomUUID();
    await db.query("insert into users (id, username, password_hash) values ($1, 'u', 'x')", [user]);
    const [indexed, empty] = [crypto.randomUUID(), crypto.randomUUID()];
    const made: [string, string][] = [[indexed, "indexed"], [empty, "empty"]];
    for (const [id, name] of made) {
      await db.query(
        `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
                                  chunk_overlap, vector_store_name)
         values ($1, $2, $3, 'm', 3, 200, 40, $3)`,
        [id, user, name],
      );
    }
    const doc = crypto.randomUUID();
    await db.query(
      "insert into documents (id, collection_id, uri) values ($1, $2, '/a.txt')",
      [doc, indexed],
    );
    await db.query(
      `insert into chunks (collection_id, id, document_id, ordinal, text)
       values ($1, $2, $3, 0, 'pg_notify')`,
      [indexed, crypto.randomUUID(), doc],
    );
    assert.deepEqual(
      await migrate(db, all),
      all.filter((m) => m.version >= 10).map((m) => m.version),
    );
    const rows = await db.query<{ name: string; lexical_ready: boolean }>(
      "select name, lexical_ready from collections order by name",
    );
    assert.deepEqual(rows, [
      { name: "empty", lexical_ready: true },
      { name: "indexed", lexical_ready: false },
    ]);
    // Collections made afterwards are ready: they index terms as they write points.
    await db.query(
      `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
                                chunk_overlap, vector_store_name)
       values ($1, $2, 'later', 'm', 3, 200, 40, 'later')`,
      [crypto.randomUUID(), user],
    );
    const [later] = await db.query<{ lexical_ready: boolean }>(
      "select lexical_ready from collections where name = 'later'",
    );
    assert.equal(later!.lexical_ready, true);
  } finally {
    await db.close();
  }
});
