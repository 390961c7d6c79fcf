/** `deno task api` as a process: serves, answers ready, and exits 0 on SIGTERM. */
import assert from "node:assert/strict";
import { createTestDb, createTestRedis } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const MAIN = new URL("../api/main.ts", import.meta.url).pathname;

Deno.test("deno task api migrates, serves, reports readiness with reasons, and exits 0 on SIGTERM", async () => {
  const t = await createTestDb("postgres", { migrate: false });
  const r = await createTestRedis();
  const dataDir = await Deno.makeTempDir();
  const proc = spawnDeno(MAIN, {
    env: {
      PORT: "0",
      DATABASE_URL: t.url!,
      REDIS_URL: r.url,
      REDIS_PREFIX: r.prefix,
      DATA_DIR: dataDir,
      JWT_SECRET: "x".repeat(40),
    },
  });
  try {
    const [, url] = await proc.waitForLine(/api listening url=(\S+)/);
    // The API applied the migrations itself.
    const [{ n } = { n: 0 }] = await t.db.query<{ n: number }>(
      "select count(*) as n from schema_migrations",
    );
    assert.ok(n >= 1);
    const reg = await fetch(`${url}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "alice", password: "password-123" }),
    });
    assert.equal(reg.status, 201);
    await reg.body?.cancel();
    const ready = await fetch(`${url}/readyz`);
    // pgvector on Postgres 15 without the extension: not ready, and it says why.
    const body = await ready.json();
    assert.equal(ready.status, 503);
    assert.equal(body.checks.database.ok, true);
    assert.equal(body.checks.redis.ok, true);
    assert.equal(body.checks.vector_store.ok, false);
    assert.match(body.checks.vector_store.reason, /vector/);
    const status = await proc.stop("SIGTERM");
    assert.equal(status.code, 0, proc.lines.join("\n"));
  } finally {
    await proc.stop("SIGKILL");
    await r.cleanup();
    await t.cleanup();
    await Deno.remove(dataDir, { recursive: true });
  }
});
