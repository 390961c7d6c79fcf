import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { withTestRedis } from "../testing/redis.ts";
import { createRedis } from "./redis.ts";
import { hasBinary, startPrivateRedis } from "./private_server.ts";
import { isNoScript, RedisScript } from "./redis_script.ts";

/**
 * A connected connection (not auto-pipelined) that records the name of every command sent
 * through it (connected first: a command sent before then passes through sendCommand twice).
 */
async function recording(url: string): Promise<{ redis: Redis; sent: string[] }> {
  const redis = createRedis(url, { name: "test:script", autoPipelining: false });
  await redis.ping();
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis) as (...a: unknown[]) => unknown;
  (redis as unknown as { sendCommand: (...a: unknown[]) => unknown }).sendCommand = (...a) => {
    sent.push((a[0] as { name: string }).name);
    return send(...a);
  };
  return { redis, sent };
}

Deno.test("RedisScript: the first call on a connection sends the source, later ones the SHA1; KEYS and ARGV arrive in order", async () => {
  await withTestRedis(async (t) => {
    const script = new RedisScript(
      "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[2], ARGV[2], redis.call('GET', KEYS[1])}",
    );
    const { redis, sent } = await recording(t.url);
    try {
      const k1 = `${t.prefix}{s}a`, k2 = `${t.prefix}{s}b`;
      assert.deepEqual(await script.call(redis, [k1, k2], ["x", 7]), [k2, "7", "x"]);
      assert.deepEqual(await script.call(redis, [k1, k2], ["y", 8]), [k2, "8", "y"]);
      assert.deepEqual(sent.filter((n) => n.startsWith("eval")), ["eval", "evalsha"]);
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test({
  name: "RedisScript: a server that lost the script (SCRIPT FLUSH) is sent the source again",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const server = await startPrivateRedis();
    const { redis, sent } = await recording(server.url);
    try {
      const script = new RedisScript("return redis.call('INCR', KEYS[1])");
      assert.equal(await script.call(redis, ["n"], []), 1);
      assert.equal(await script.call(redis, ["n"], []), 2);
      await redis.script("FLUSH");
      assert.equal(await script.call(redis, ["n"], []), 3);
      assert.equal(await script.call(redis, ["n"], []), 4);
      // The call after the flush: EVALSHA (NOSCRIPT), then EVAL; the next one EVALSHA again.
      assert.deepEqual(sent.filter((n) => n.startsWith("eval")), [
        "eval",
        "evalsha",
        "evalsha",
        "eval",
        "evalsha",
      ]);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  },
});

Deno.test("RedisScript: an error the script raises rejects the call, and the script is not run again", async () => {
  await withTestRedis(async (t) => {
    const script = new RedisScript(
      "redis.call('INCR', KEYS[1]); return redis.error_reply('boom: counted')",
    );
    const { redis } = await recording(t.url);
    const key = `${t.prefix}count`;
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(script.call(redis, [key], []), (e: unknown) => {
          assert.match(String((e as Error).message), /boom: counted/);
          assert.equal(isNoScript(e), false);
          return true;
        });
      }
      assert.equal(await t.redis.get(key), "2", "one run per call");
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisScript: called in the same tick as a command pending on an auto-pipelined connection, both answer (ioredis' defineCommand crashed the process here)", async () => {
  await withTestRedis(async (t) => {
    const redis = createRedis(t.target, { name: "test:script:auto" });
    try {
      await redis.ping();
      const key = `${t.prefix}same-tick`;
      const set = redis.set(key, "v");
      const script = new RedisScript("return redis.call('GET', KEYS[1])");
      const first = script.call(redis, [key], []);
      const second = script.call(redis, [key], []);
      assert.deepEqual(await Promise.all([set, first, second]), ["OK", "v", "v"]);
    } finally {
      redis.disconnect();
    }
  });
});
