/**
 * Plain-SQL migrations, applied in order by one migrator and recorded in `schema_migrations`.
 * Re-running applies nothing new. On a server, concurrent migrators are serialised by a
 * transaction-scoped advisory lock (keyed by schema); PGlite is one session, so there the lock is
 * trivially held.
 */
import type { Db } from "./db.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

/** Reads `NNNN_name.sql` files from the migrations folder, in version order. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(\d+)_([a-z0-9_]+)\.sql$/.exec(entry.name);
    if (!entry.isFile || !m) continue;
    const sql = await Deno.readTextFile(new URL(entry.name, dir));
    out.push({ version: Number(m[1]), name: m[2]!, sql, checksum: await sha256(sql) });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) {
      throw new Error(`Cannot load migrations: version ${out[i]!.version} appears twice`);
    }
  }
  return out;
}

/** Applies pending migrations; returns the versions applied by this call. */
export async function migrate(db: Db, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? await loadMigrations();
  return await db.transaction(async (tx) => {
    await tx.query(
      `select pg_advisory_xact_lock(hashtext(current_schema() || ':semantik:migrations'))`,
    );
    await tx.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = new Map(
      (await tx.query<{ version: number; checksum: string }>(
        "select version, checksum from schema_migrations",
      )).map((r) => [r.version, r.checksum]),
    );
    const done: number[] = [];
    for (const m of all) {
      const seen = applied.get(m.version);
      if (seen !== undefined) {
        if (seen !== m.checksum) {
          throw new Error(
            `Cannot migrate: migration ${m.version}_${m.name} changed after it was applied`,
          );
        }
        continue;
      }
      // Each file is split into statements so that parameterless multi-statement SQL runs on
      // both drivers inside the one transaction.
      for (const stmt of splitStatements(m.sql)) await tx.query(stmt);
      await tx.query(
        "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
        [
          m.version,
          m.name,
          m.checksum,
        ],
      );
      done.push(m.version);
    }
    return done;
  });
}

/**
 * Splits a SQL script on semicolons that end a statement, ignoring those inside quotes,
 * dollar-quoted bodies and comments.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = "";
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end + 1;
      cur += "\n";
      continue;
    }
    if (ch === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? sql.length : end + 2;
      cur += " ";
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch && sql[j + 1] === ch) j += 2;
        else if (sql[j] === ch) break;
        else j++;
      }
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    // A dollar quote's tag is empty or an identifier without `$` (`$body$`, `$fn_2$`); a `$`
    // inside an identifier (`a$b`) or before a digit (`$1`) starts none.
    if (ch === "$" && !/[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i - 1] ?? "")) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end === -1 ? sql.length : end + tag[0].length;
        cur += sql.slice(i, stop);
        i = stop;
        continue;
      }
    }
    if (ch === ";") {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
      i++;
      continue;
    }
    cur += ch;
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
