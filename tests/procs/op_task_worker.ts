/**
 * A worker process for the task-layer tests: runs `indexing.process_source` jobs with a test
 * work function through the real operation wrapper (task context, events, retries). The work
 * does `STEPS` steps of `STEP_MS` each, reporting progress after each and checking for
 * cancellation before each. Prints `ready` once it reads jobs.
 *
 * Environment: DATABASE_URL (a test schema), TEST_REDIS_URL (or TEST_REDIS_CLUSTER_NODES), TEST_PREFIX, LEASE_MS, STEPS, STEP_MS.
 */
import { connectPostgres } from "../../shared/db/postgres_driver.ts";
import { createRedis, KeySpace } from "../../shared/redis/redis.ts";
import { testRedisTarget } from "../../shared/testing/redis.ts";
import { getLogger } from "../../shared/log/logger.ts";
import { EventPublisher } from "../../shared/events/event_publisher.ts";
import { operationTaskHandler } from "../../worker/operation_task.ts";
import { processSourceTask } from "../../shared/tasks/definitions.ts";
import { WorkerRuntime } from "../../worker/worker_runtime.ts";
import { exitOnSignals } from "../../worker/signals.ts";

const env = (name: string) => {
  const v = Deno.env.get(name);
  if (v === undefined) throw new Error(`Cannot start test worker: ${name} is not set`);
  return v;
};
const steps = Number(env("STEPS"));
const stepMs = Number(env("STEP_MS"));
const leaseMs = Number(env("LEASE_MS"));
const prefix = env("TEST_PREFIX");
const log = getLogger("op-task-worker");

const db = connectPostgres(env("DATABASE_URL"), { max: 3 });
env("TEST_REDIS_URL");
const target = testRedisTarget();
const redis = createRedis(target, { name: "op-task-worker" });
const events = new EventPublisher(redis, new KeySpace(prefix));

const handler = operationTaskHandler(processSourceTask, {
  work: async (ctx) => {
    for (let i = 1; i <= steps; i++) {
      await ctx.checkpoint();
      await new Promise((r) => setTimeout(r, stepMs));
      ctx.updateProgress((100 * i) / steps, `step ${i} of ${steps} by ${Deno.pid}`);
      await ctx.flush();
    }
    return { steps };
  },
  deps: { db, events, log },
});

const worker = new WorkerRuntime({
  redisUrl: target,
  redis,
  prefix,
  queues: ["default"],
  handlers: [handler],
  concurrency: 1,
  consumer: `op-task-worker:${Deno.pid}`,
  queueOptions: {
    leaseMs,
    heartbeatMs: Math.max(50, Math.floor(leaseMs / 5)),
    reclaimIntervalMs: Math.max(50, Math.floor(leaseMs / 4)),
    blockMs: 300,
    delayedPollMs: 50,
  },
  livenessIntervalMs: 500,
  logger: log,
});
const running = worker.run();
await worker.waitUntilReady();
console.log("ready");
exitOnSignals({
  log,
  close: async (force) => {
    await worker.close(force);
    await running;
    redis.disconnect();
    await db.close();
  },
});
