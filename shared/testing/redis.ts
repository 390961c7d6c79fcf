/**
 * Test Redis: a real server at `TEST_REDIS_URL`, or the Redis Cluster at
 * `TEST_REDIS_CLUSTER_NODES` (`deno task test:cluster`), a random key prefix per test, and cleanup
 * of every key under that prefix afterwards.
 */
import type { Redis } from "ioredis";
import { createRedis, masterNodes, scanAllNodes } from "../redis/redis.ts";
import { type RedisTarget, redisTargetEnv, redisTargetFromEnv } from "../redis/redis_target.ts";
import { randomSuffix } from "./db.ts";

export function testRedisUrl(): string {
  return Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";
}

/**
 * The Redis the tests use: the cluster at `TEST_REDIS_CLUSTER_NODES` when set, else the node at
 * `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).
 */
export function testRedisTarget(): RedisTarget {
  const nodes = Deno.env.get("TEST_REDIS_CLUSTER_NODES");
  return redisTargetFromEnv(nodes ? { REDIS_CLUSTER_NODES: nodes } : { REDIS_URL: testRedisUrl() });
}

/** Whether the tests run against a Redis Cluster (`TEST_REDIS_CLUSTER_NODES`). */
export function testRedisIsCluster(): boolean {
  return testRedisTarget().mode === "cluster";
}

export interface TestRedis {
  /**
   * URL of the single test node. On a cluster: one of its nodes, which alone serves only some
   * keys; use {@link target} or {@link env} wherever a test may run on a cluster.
   */
  url: string;
  /** Where the test Redis is (one node or a cluster): pass it to `createRedis`. */
  target: RedisTarget;
  /** The settings that select {@link target} (`REDIS_URL` or `REDIS_CLUSTER_NODES`), for children. */
  env: Record<string, string>;
  /** A fresh prefix (`test:<random>:`) for every key the test makes. */
  prefix: string;
  /** A command connection for the test's own checks. */
  redis: Redis;
  /** Deletes every key under the prefix and closes the connection. */
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const target = testRedisTarget();
  const url = target.mode === "cluster"
    ? `redis://${target.nodes[0]!.host}:${target.nodes[0]!.port}`
    : testRedisUrl();
  const prefix = `test:${randomSuffix()}:`;
  const redis = createRedis(target, { name: "test", lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  return {
    url,
    target,
    env: redisTargetEnv(target),
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

/** Deletes every key under `prefix` (on every master of a cluster); returns how many. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let n = 0;
  // Key names may contain glob characters such as `{`; escape them for MATCH.
  const pattern = prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
  await scanAllNodes(redis, {
    pattern,
    onKeys: async (keys, node) => {
      // One key per UNLINK: on a cluster, keys of one node may still lie in different slots.
      const counts = await Promise.all(keys.map((k) => node.unlink(k)));
      n += counts.reduce((a, b) => a + b, 0);
    },
  });
  return n;
}

/** Empties every master (FLUSHALL on each node of a cluster). */
export async function flushAllNodes(redis: Redis): Promise<void> {
  await Promise.all(masterNodes(redis).map((node) => node.flushall()));
}
