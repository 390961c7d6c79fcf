/**
 * `deno task worker` and `deno task worker:health` as real processes: the worker starts on the
 * project's settings, its heartbeat makes the health check pass, SIGTERM makes it exit 0 and
 * withdraw the heartbeat.
 */
import assert from "node:assert/strict";
import { withTestRedis } from "../shared/testing/redis.ts";
import { createServerTestDb } from "../shared/testing/db.ts";
import { waitFor } from "../shared/queue/_test_helpers.ts";
import { PROCESS_START_MS } from "../shared/testing/wait.ts";

const root = new URL("../", import.meta.url).pathname;

async function health(
  env: Record<string, string>,
  entry = ["worker/health.ts"],
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...entry],
    cwd: root,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
}

Deno.test("deno task worker runs until SIGTERM and exits 0; worker:health follows it", async () => {
  await withTestRedis(async (t) => {
    const db = await createServerTestDb();
    const env = {
      DATABASE_URL: db.url!,
      REDIS_URL: t.url,
      REDIS_PREFIX: t.prefix,
      WORKER_SHUTDOWN_TIMEOUT_S: "1",
      METRICS_PORT: "0",
      LOG_LEVEL: "warn",
      DATA_DIR: await Deno.makeTempDir({ prefix: "semantik-worker-test-" }),
    };
    let child: Deno.ChildProcess | undefined;
    try {
      const before = await health(env);
      assert.equal(before.code, 1, before.text);
      assert.match(before.text, /no live worker/);

      child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "worker/main.ts"],
        cwd: root,
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      const alive = await waitFor("the health check to pass", async () => {
        const h = await health(env);
        return h.code === 0 ? h : undefined;
      }, { intervalMs: 200, timeoutMs: PROCESS_START_MS });
      assert.match(alive.text, /healthy: .*default,embed/);

      // The compiled binary checks itself the same way: `semantik-worker health`.
      const viaMain = await health(env, ["worker/main.ts", "health"]);
      assert.equal(viaMain.code, 0, viaMain.text);

      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0);
      const after = await health(env);
      assert.equal(after.code, 1, after.text);
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* exited */ }
      await child?.status;
      await Deno.remove(env.DATA_DIR, { recursive: true }).catch(() => {});
      await db.cleanup();
    }
  });
});
