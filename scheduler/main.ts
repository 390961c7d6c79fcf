/**
 * `deno task scheduler`: registers the periodic jobs with `Deno.cron` (schedules from
 * `SCHEDULE_SYNC_CHECK`, `SCHEDULE_CLEANUP`, `SCHEDULE_RECONCILE`, UTC) and enqueues each tick's
 * job once, however many replicas run. Stops on SIGTERM/SIGINT and exits 0.
 *
 * The scheduler only talks to Redis: it opens no database, so it never contends for the embedded
 * PGlite of a `deno task dev` process and needs no migration. Serves `/metrics`, `/healthz` and
 * `/readyz` on `METRICS_PORT` (9465 by default).
 */
import {
  checkWithin,
  configureLogging,
  createMetricsRegistry,
  createRedis,
  getLogger,
  loadConfigOrExit,
  QueueClient,
  serveRoleMetrics,
} from "@semantik/shared";
import { startScheduler } from "./scheduler.ts";

const config = loadConfigOrExit();
configureLogging({
  level: config.logLevel,
  format: config.environment === "production" ? "json" : "pretty",
});
const log = getLogger("scheduler");
const redis = createRedis(config.redis, { name: "scheduler:cmd" });
let redisDown = false;
redis.on("error", (err) => {
  // ioredis reconnects by itself; a firing that cannot enqueue is retried by Deno.cron.
  if (!redisDown) log.warn("redis connection error; reconnecting", { err });
  redisDown = true;
});
redis.on("ready", () => {
  if (redisDown) log.info("redis connection restored");
  redisDown = false;
});

const metrics = createMetricsRegistry();
let scheduler;
try {
  scheduler = startScheduler({
    config,
    queues: new QueueClient(redis, { prefix: config.redisPrefix }),
    log,
    metrics,
  });
} catch (err) {
  log.error((err as Error).message);
  redis.disconnect();
  Deno.exit(78);
}

let stopping = false;
let endpoint;
try {
  endpoint = await serveRoleMetrics(config, {
    role: "scheduler",
    registry: metrics,
    log,
    readiness: async () => ({
      redis: await checkWithin(() => redis.ping()),
      scheduler: stopping ? { ok: false, reason: "the scheduler is shutting down" } : { ok: true },
    }),
  });
} catch (err) {
  log.error((err as Error).message);
  await scheduler.close();
  redis.disconnect();
  Deno.exit(1);
}
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info(`${signal} received; shutting down`);
  Promise.all([scheduler.close(), endpoint?.close()]).then(
    () => {
      redis.disconnect();
      Deno.exit(0);
    },
    (err) => {
      log.error("shutdown failed", { err });
      Deno.exit(1);
    },
  );
};
Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
