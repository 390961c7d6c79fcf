/**
 * A worker process for the integration tests: a {@link WorkerRuntime} on the `default` queue
 * with one test task, `test.work`, whose handler records what it does in Redis under the test's
 * prefix (`<prefix>t:*`) and writes its effect idempotently (SET NX). It prints `ready` on stdout
 * once it reads jobs, and exits like `deno task worker` on SIGTERM/SIGINT.
 *
 * Settings (environment): TEST_REDIS_URL (or TEST_REDIS_CLUSTER_NODES), TEST_PREFIX, CONSUMER, CONCURRENCY, LEASE_MS,
 * HEARTBEAT_MS, RECLAIM_MS, SHUTDOWN_MS, ABORT_GRACE_MS, MAX_WORK_MS (caps the payload's work
 * time), IGNORE_ABORT=1 (the handler does not stop when its signal fires), PREFETCH (jobs read ahead).
 */
import { createRedis } from "../../shared/redis/redis.ts";
import { testRedisTarget } from "../../shared/testing/redis.ts";
import { getLogger } from "../../shared/log/logger.ts";
import { taskHandler } from "../../shared/queue/queue_worker.ts";
import { WorkerRuntime } from "../../worker/worker_runtime.ts";
import { exitOnSignals } from "../../worker/signals.ts";
import { workTask } from "./work_task.ts";

const env = (name: string, def?: string) => {
  const v = Deno.env.get(name) ?? def;
  if (v === undefined) throw new Error(`Cannot start test worker: ${name} is not set`);
  return v;
};
const num = (name: string, def: number) => Number(env(name, String(def)));

const url = testRedisTarget();
const prefix = env("TEST_PREFIX");
const consumer = env("CONSUMER", `proc:${Deno.pid}`);
const maxWorkMs = num("MAX_WORK_MS", Number.MAX_SAFE_INTEGER);
const ignoreAbort = env("IGNORE_ABORT", "0") === "1";
const k = (...parts: string[]) => `${prefix}t:${parts.join(":")}`;

const redis = createRedis(url, { name: "test-proc" });
redis.on("error", () => {});

const handler = taskHandler(workTask, async (p, job) => {
  const tag = `${job.id}|${job.attempt}|${Deno.pid}`;
  await redis.rpush(k("started"), tag);
  // Two live handlers of one job at the same time would leave two pids in this set (the tests
  // take out the pid of a process they killed).
  const running = k("running", job.id);
  const r = await redis.multi().sadd(running, Deno.pid).scard(running).exec();
  if (Number(r?.[1]?.[1] ?? 0) > 1) await redis.set(k("overlap", job.id), tag);
  try {
    const ms = Math.min(p.ms, maxWorkMs);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      job.signal.addEventListener("abort", () => {
        if (ignoreAbort) return;
        clearTimeout(timer);
        reject(job.signal.reason);
      }, { once: true });
    });
    // The effect: idempotent, so a second run of the same job changes nothing.
    const first = await redis.set(k("effect", job.id), tag, "NX");
    if (first === "OK") await redis.incr(k("effects"));
    await redis.rpush(k("finished"), tag);
    return { tag };
  } catch (err) {
    await redis.rpush(k("aborted"), `${tag}|${(err as Error).name}`);
    throw err;
  } finally {
    await redis.srem(running, Deno.pid);
  }
});

const worker = new WorkerRuntime({
  redisUrl: url,
  prefix,
  queues: ["default"],
  consumer,
  host: `test-${prefix}`,
  concurrency: num("CONCURRENCY", 2),
  shutdownTimeoutMs: num("SHUTDOWN_MS", 5000),
  livenessIntervalMs: 200,
  handlers: [handler],
  queueOptions: {
    leaseMs: num("LEASE_MS", 1000),
    heartbeatMs: num("HEARTBEAT_MS", 200),
    reclaimIntervalMs: num("RECLAIM_MS", 200),
    blockMs: 300,
    delayedPollMs: 50,
    abortGraceMs: num("ABORT_GRACE_MS", 500),
    prefetch: num("PREFETCH", 0),
  },
  logger: getLogger("test-worker", { pid: Deno.pid }),
});
const running = worker.run();
exitOnSignals({
  log: getLogger("test-worker", { pid: Deno.pid }),
  close: async (force) => {
    await worker.close(force);
    await running;
    redis.disconnect();
  },
});
await worker.waitUntilReady();
console.log("ready");
