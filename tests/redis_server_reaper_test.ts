/**
 * The test runners' last resort against leftover Redis topologies: the servers the topology
 * helpers start are recorded under SEMANTIK_TEST_REDIS_PID_DIR, and `reapRedisServers` kills a
 * recorded redis-server still running, never a process that merely has a recorded pid.
 */
import assert from "node:assert/strict";
import { freePort } from "../shared/redis/private_server.ts";
import { pingRedis } from "../shared/redis/redis.ts";
import {
  reapRedisServers,
  REDIS_PID_DIR_ENV,
  startRedisSentinel,
} from "../shared/testing/redis_cluster.ts";
import { waitFor } from "../shared/testing/wait.ts";

Deno.test("reapRedisServers kills a recorded redis-server that still runs, and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "semantik-reaper-" });
  const port = await freePort();
  const server = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Not a redis-server: as if a recorded pid had been reused by another process.
  const other = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
  try {
    await waitFor(
      `redis-server on ${port} to answer`,
      () => pingRedis(`redis://127.0.0.1:${port}`),
    );
    await Deno.writeTextFile(`${dir}/${server.pid}`, String(port));
    await Deno.writeTextFile(`${dir}/${other.pid}`, String(port));
    assert.deepEqual(await reapRedisServers(dir), [port]);
    assert.equal((await server.status).signal, "SIGKILL");
    const otherCmd = await Deno.readTextFile(`/proc/${other.pid}/cmdline`);
    assert.ok(otherCmd.includes("sleep"), `the other process still runs (${otherCmd})`);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the records are removed");
  } finally {
    for (const c of [server, other]) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
      await c.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the topology helpers record each server they start and forget it once stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "semantik-reaper-" });
  Deno.env.set(REDIS_PID_DIR_ENV, dir);
  try {
    const sentinel = await startRedisSentinel();
    let recorded: string[] = [];
    try {
      recorded = [...Deno.readDirSync(dir)].map((e) => e.name);
      // One master, one replica, three sentinels.
      assert.equal(recorded.length, 5, recorded.join());
      const ports = recorded.map((pid) => Number(Deno.readTextFileSync(`${dir}/${pid}`)));
      assert.ok(ports.includes(await sentinel.masterPort()));
    } finally {
      await sentinel.stop();
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    Deno.env.delete(REDIS_PID_DIR_ENV);
    await Deno.remove(dir, { recursive: true });
  }
});
