/** `deno task api` as a process: serves, answers ready, and exits 0 on SIGTERM. */
import assert from "node:assert/strict";
import { createTestDb, createTestRedis, testServerOffersPgvector } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const MAIN = new URL("../api/main.ts", import.meta.url).pathname;

Deno.test("deno task api migrates, serves, reports readiness with reasons, and exits 0 on SIGTERM", async () => {
  const offersPgvector = await testServerOffersPgvector();
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
    const body = await ready.json();
    assert.equal(body.checks.database.ok, true);
    assert.equal(body.checks.redis.ok, true);
    if (offersPgvector) {
      // A server that offers pgvector (a developer's): the store makes the extension, ready.
      assert.equal(ready.status, 200, JSON.stringify(body));
      assert.equal(body.checks.vector_store.ok, true);
    } else {
      // pgvector on Postgres 15 without the extension (CI's): not ready, and it says why.
      assert.equal(ready.status, 503);
      assert.equal(body.checks.vector_store.ok, false);
      assert.match(body.checks.vector_store.reason, /vector/);
    }
    // Requests in flight when SIGTERM arrives still get their answers: ten logins (each a slow
    // scrypt check) are sent in full, and the signal lands while they are being worked on.
    const { hostname, port } = new URL(url!);
    const login = JSON.stringify({ username: "alice", password: "wrong-password" });
    const request = new TextEncoder().encode(
      `POST /api/auth/login HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${login.length}\r\nConnection: close\r\n\r\n${login}`,
    );
    const conns = await Promise.all(
      Array.from({ length: 10 }, () => Deno.connect({ hostname, port: Number(port) })),
    );
    await Promise.all(conns.map((c) => c.write(request)));
    await new Promise((r) => setTimeout(r, 30));
    proc.child.kill("SIGTERM");
    const answers = await Promise.all(conns.map(async (conn) => {
      const chunks: number[] = [];
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunks.push(...buf.subarray(0, n));
      }
      conn.close();
      return new TextDecoder().decode(new Uint8Array(chunks));
    }));
    for (const answer of answers) {
      assert.match(answer, /^HTTP\/1\.1 401/, answer);
      assert.match(answer, /"code":"unauthorized"/);
    }
    const status = await proc.status;
    assert.equal(status.code, 0, proc.lines.join("\n"));
    // After that, nothing is accepted.
    await assert.rejects(fetch(`${url}/healthz`));
  } finally {
    await proc.stop("SIGKILL");
    await r.cleanup();
    await t.cleanup();
    await Deno.remove(dataDir, { recursive: true });
  }
});
