import assert from "node:assert/strict";
import { spawnDeno, wrap } from "./helpers/process.ts";
import { testRedisUrl } from "@semantik/shared/testing";

const DEV = new URL("../scripts/dev.ts", import.meta.url).pathname;

Deno.test("deno task dev serves /healthz on embedded PGlite and stops cleanly on SIGINT", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "semantik-dev-" });
  const proc = spawnDeno(DEV, {
    env: {
      PORT: "0",
      DATA_DIR: dataDir,
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: `test:dev:${crypto.randomUUID().slice(0, 8)}:`,
    },
  });
  try {
    const [, url] = await proc.waitForLine(/api listening url=(\S+)/);
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    const status = await proc.stop("SIGINT");
    assert.equal(status.code, 0, proc.lines.join("\n"));
    assert.ok(proc.lines.some((l) => l.includes("stopped")));
    // The embedded database lives under DATA_DIR.
    assert.ok((await Deno.stat(`${dataDir}/pglite`)).isDirectory);
  } finally {
    await proc.stop("SIGKILL");
    await Deno.remove(dataDir, { recursive: true });
  }
});

async function canUnshareNetwork(): Promise<boolean> {
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-n", "true"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    const redis = await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" })
      .output();
    return out.success && redis.success;
  } catch {
    return false;
  }
}

for (const when of ["once serving", "while starting"] as const) {
  Deno.test({
    name: `deno task dev starts a private redis-server when none answers; SIGINT ${when} stops it`,
    // A network namespace of our own is the one way to make 127.0.0.1:6379 silent without
    // touching the machine's Redis; it needs unshare (root).
    ignore: !(await canUnshareNetwork()),
    async fn() {
      const dataDir = await Deno.makeTempDir({ prefix: "semantik-dev-" });
      const script = `ip link set lo up; exec "${Deno.execPath()}" run -A "${DEV}"`;
      const child = new Deno.Command("unshare", {
        args: ["-n", "sh", "-c", script],
        env: { NO_COLOR: "1", PORT: "0", DATA_DIR: dataDir, REDIS_URL: "" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const proc = wrap(child);
      try {
        const [, redisUrl] = await proc.waitForLine(/started a private redis-server .*url=(\S+)/);
        // "while starting": the database and the roles are still coming up.
        if (when === "once serving") await proc.waitForLine(/api listening/);
        const port = new URL(redisUrl!).port;
        const status = await proc.stop("SIGINT");
        assert.equal(status.code, 0, proc.lines.join("\n"));
        assert.ok(proc.lines.some((l) => l.includes("stopped")));
        const ps = new TextDecoder().decode(
          (await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output())
            .stdout,
        );
        assert.ok(!ps.includes(`--port ${port}`), "the private redis-server is still running");
      } finally {
        await proc.stop("SIGKILL");
        await Deno.remove(dataDir, { recursive: true });
      }
    },
  });
}
