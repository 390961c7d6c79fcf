/**
 * A scheduler replica for tests/scheduler_replicas_test.ts: the real `startScheduler` on the real
 * `Deno.cron` (run it with DENO_CRON_TEST_SCHEDULE_OFFSET=<ms> so it fires every few ms) against
 * REDIS_URL/REDIS_PREFIX, with a clock that runs CLOCK_SPEED times faster than real time from
 * CLOCK_EPOCH (ms since the epoch, real time when the clock reads CLOCK_BASE), so one-minute
 * ticks pass in a second. Every replica of a test gets the same three numbers, so they agree on
 * the time. Prints `ready`, then one JSON line per firing; stops on SIGTERM.
 */
import { createRedis, getLogger, loadConfig, QueueClient } from "@semantik/shared";
import { startScheduler } from "@semantik/scheduler";

const env = Deno.env.toObject();
const config = loadConfig(env);
const speed = Number(env.CLOCK_SPEED ?? "1");
const epoch = Number(env.CLOCK_EPOCH ?? Date.now());
const base = Number(env.CLOCK_BASE ?? epoch);
const redis = createRedis(config.redis, { name: "scheduler-replica" });
const scheduler = startScheduler({
  config,
  queues: new QueueClient(redis, { prefix: config.redisPrefix }),
  log: getLogger("replica"),
}, {
  clock: () => base + (Date.now() - epoch) * speed,
  onFired: (f) => console.log(JSON.stringify({ fire: f })),
});
console.log("ready");
Deno.addSignalListener("SIGTERM", async () => {
  await scheduler.close();
  redis.disconnect();
  Deno.exit(0);
});
