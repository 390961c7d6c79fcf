/**
 * A Sentinel client whose connect ioredis' failover detector interrupts (it disconnects the
 * connector while the client asks a sentinel for the master, when the new master is announced
 * during a reconnect) connects again, and the commands queued meanwhile succeed; a connect that
 * `disconnect()` interrupts ends the client, as asked (shared/redis/redis.ts,
 * `connectThroughFailover`).
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { createRedis } from "../shared/redis/redis.ts";
import { startRedisSentinel } from "../shared/testing/redis_cluster.ts";
import { waitFor } from "../shared/testing/wait.ts";

Deno.test("Sentinel client: a connect the failover detector interrupts starts again, and commands queued meanwhile succeed; a connect disconnect() interrupts ends it", async (t) => {
  const sentinel = await startRedisSentinel();
  const clients: Redis[] = [];
  const open = async (name: string) => {
    const r = createRedis(sentinel.target, { name });
    clients.push(r);
    r.on("error", () => {});
    assert.equal(await r.ping(), "PONG");
    const seen = { ends: 0, statuses: [] as string[] };
    r.on("end", () => seen.ends++);
    for (const s of ["reconnecting", "connecting", "ready", "end"]) {
      r.on(s, () => seen.statuses.push(s));
    }
    return { r, seen };
  };
  // ioredis internals, as its failover detector reaches them.
  // deno-lint-ignore no-explicit-any
  const internals = (r: Redis) => r as any;
  try {
    await t.step(
      "interrupted by the connector's disconnect: connects again, nothing lost",
      async () => {
        const { r, seen } = await open("test:connect:interrupted");
        const key = `test:sentinel-connect:${crypto.randomUUID()}`;
        let queued: Promise<unknown>[] = [];
        r.once("connecting", () => {
          // While the client asks a sentinel for the master: disconnect the connector, as the
          // failover detector does, and queue commands.
          internals(r).connector.disconnect();
          queued = [r.ping(), r.set(key, "written while connecting"), r.get(key)]
            .map((p) => p.then((v) => v, (e) => String(e)));
        });
        internals(r).stream.destroy();
        const results = await waitFor(
          "the commands queued while connecting to settle",
          () => queued.length === 3 ? Promise.all(queued) : undefined,
          { seen: () => `status ${r.status}, ${seen.statuses.join(" > ")}` },
        );
        assert.deepEqual(results, ["PONG", "OK", "written while connecting"]);
        assert.equal(r.status, "ready");
        assert.equal(seen.ends, 0, `never ended (${seen.statuses.join(" > ")})`);
        await r.del(key);
      },
    );

    await t.step("interrupted by disconnect(): ends, and stays ended", async () => {
      const { r, seen } = await open("test:connect:asked");
      let queued: Promise<string> | undefined;
      r.once("connecting", () => {
        r.disconnect();
        queued = r.ping().then((v) => `resolved: ${v}`, (e) => String(e));
      });
      internals(r).stream.destroy();
      await waitFor("the asked-for end", () => seen.ends > 0, {
        seen: () => `status ${r.status}, ${seen.statuses.join(" > ")}`,
      });
      assert.equal(await queued, "Error: Connection is closed.");
      // Longer than any reconnect delay of the first attempts (at most 200 ms): still ended.
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(r.status, "end", seen.statuses.join(" > "));
      assert.deepEqual(seen.statuses.filter((s) => s === "ready"), []);
    });
  } finally {
    for (const r of clients) r.disconnect();
    await sentinel.stop();
  }
});
