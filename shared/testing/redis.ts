/**
 * Test Redis: a real server at `TEST_REDIS_URL`, a random key prefix per test, and cleanup of
 * every key under that prefix afterwards.
 */
import { Redis } from "ioredis";
import { randomSuffix } from "./db.ts";

export function testRedisUrl(): string {
  return Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";
}

export interface TestRedis {
  url: string;
  /** A fresh prefix (`test:<random>:`) for every key the test makes. */
  prefix: string;
  /** A command connection for the test's own checks. */
  redis: Redis;
  /** Deletes every key under the prefix and closes the connection. */
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const url = testRedisUrl();
  const prefix = `test:${randomSuffix()}:`;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  return {
    url,
    prefix,
    redis,
    async cleanup() {
      try {
        await deleteByPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}

export async function withTestRedis<T>(fn: (t: TestRedis) => Promise<T>): Promise<T> {
  const t = await createTestRedis();
  try {
    return await fn(t);
  } finally {
    await t.cleanup();
  }
}

export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  // Key names may contain glob characters such as `{`; escape them for MATCH.
  const pattern = prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) n += await redis.unlink(...keys);
  } while (cursor !== "0");
  return n;
}
