/** `deno task api` as a process: SIGTERM closes its WebSockets with 1001 and it exits 0. */
import assert from "node:assert/strict";
import { createTestDb, createTestRedis } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";
import { closeAll, connect, type WsClient } from "./ws_env.ts";

const MAIN = new URL("../api/main.ts", import.meta.url).pathname;

Deno.test("SIGTERM closes the API's WebSockets with 1001", async () => {
  const t = await createTestDb("postgres");
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
  const clients: WsClient[] = [];
  try {
    const [, url] = await proc.waitForLine(/api listening url=(\S+)/);
    const creds = JSON.stringify({ username: "watcher", password: "password-123" });
    const post = (path: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: creds,
      });
    await (await post("/api/auth/register")).body?.cancel();
    const { access_token: token } = await (await post("/api/auth/login")).json();
    const wsUrl = url!.replace(/^http/, "ws");
    for (let i = 0; i < 3; i++) {
      const c = connect(`${wsUrl}/ws/operations`, `access_token.${token}`);
      clients.push(c);
      await c.opened;
    }
    // Live, not just open: the server answers a ping on each.
    for (const c of clients) c.ws.send(JSON.stringify({ type: "ping" }));
    await Promise.all(clients.map((c) => c.waitForFrames(1)));
    proc.child.kill("SIGTERM");
    const codes = await Promise.all(clients.map((c) => c.closed.then((e) => e.code)));
    assert.deepEqual(codes, [1001, 1001, 1001]);
    const status = await proc.status;
    assert.equal(status.code, 0, proc.lines.join("\n"));
  } finally {
    await closeAll(clients);
    await proc.stop("SIGKILL");
    await r.cleanup();
    await t.cleanup();
    await Deno.remove(dataDir, { recursive: true });
  }
});
