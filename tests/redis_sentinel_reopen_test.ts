/**
 * A Sentinel client that ioredis ends without being asked to (its connector disconnected while
 * it asks a sentinel for the master: what ioredis' failover detector does when the new master is
 * announced during a reconnect) opens again; one that `disconnect()` ended stays ended.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { createRedis } from "../shared/redis/redis.ts";
import { startRedisSentinel } from "../shared/testing/redis_cluster.ts";
import { WAIT_MS, waitFor } from "../shared/testing/wait.ts";

Deno.test("a Sentinel client ended by ioredis mid-reconnect opens again; disconnect() ends it", async () => {
  const sentinel = await startRedisSentinel();
  let redis: Redis | undefined;
  try {
    redis = createRedis(sentinel.target, { name: "test:reopen" });
    const r = redis;
    r.on("error", () => {});
    assert.equal(await r.ping(), "PONG");
    let ends = 0;
    r.on("end", () => ends++);
    // ioredis internals, as its failover detector reaches them: drop the stream, and while the
    // client asks a sentinel for the master, disconnect the connector.
    // deno-lint-ignore no-explicit-any
    const internals = r as any;
    r.once("connecting", () => internals.connector.disconnect());
    internals.stream.destroy();
    await waitFor("ioredis to end the client", () => ends > 0, {
      seen: () => `status ${r.status}`,
    });
    await waitFor("the client to open again", () => r.status === "ready", {
      timeoutMs: WAIT_MS,
      seen: () => `status ${r.status}`,
    });
    assert.equal(await r.ping(), "PONG");

    r.disconnect();
    await waitFor("the asked-for end", () => r.status === "end");
    // Longer than the first reconnect delay (at most 100 ms): it stays ended.
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(r.status, "end");
  } finally {
    redis?.disconnect();
    await sentinel.stop();
  }
});
