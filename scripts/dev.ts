/**
 * `deno task dev`: the whole system in one process on embedded defaults.
 * - DATABASE_URL unset: PGlite under DATA_DIR holds metadata and vectors (pgvector store).
 * - REDIS_URL unset and nothing answering at redis://127.0.0.1:6379: a private redis-server is
 *   started for the session (and stopped with it) when one is installed.
 * - API, worker and scheduler roles run on one runtime; Ctrl-C stops them in order.
 */
import {
  configureLogging,
  createRuntime,
  describeRedisTarget,
  getLogger,
  hasBinary,
  loadConfigOrExit,
  pingRedis,
  type PrivateRedis,
  type Runtime,
  startPrivateRedis,
} from "@semantik/shared";
import { type ApiServer, startApi } from "@semantik/api";
import { startWorker } from "@semantik/worker";
import { startScheduler } from "@semantik/scheduler";

const env = Deno.env.toObject();
const config = loadConfigOrExit(env);
configureLogging({
  level: config.logLevel,
  format: config.environment === "production" ? "json" : "pretty",
});
const log = getLogger("dev");

// Signals are taken from the first moment: a Ctrl-C while the roles start waits for them to be
// up and then stops them in order, so no private redis-server is left behind.
const signals: { shutdown?: (signal: string) => void; requested?: string } = {};
const onSignal = (signal: string) => {
  if (signals.shutdown) signals.shutdown(signal);
  else signals.requested ??= signal;
};
Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));

let privateRedis: PrivateRedis | undefined;
if (!(await pingRedis(config.redis))) {
  if (config.redis.mode !== "single") {
    log.error(`Cannot start: Redis does not answer at ${describeRedisTarget(config.redis)}`);
    Deno.exit(1);
  }
  if (env.REDIS_URL) {
    log.error(`Cannot start: Redis does not answer at REDIS_URL=${config.redisUrl}`);
    Deno.exit(1);
  }
  if (!(await hasBinary("redis-server"))) {
    log.error(
      "Cannot start: nothing answers at redis://127.0.0.1:6379 and redis-server is not installed. " +
        "Install Redis 7.0+ (e.g. `apt install redis-server` or `brew install redis`) or set REDIS_URL.",
    );
    Deno.exit(1);
  }
  privateRedis = await startPrivateRedis();
  config.redisUrl = privateRedis.url;
  config.redis = { ...config.redis, mode: "single", url: privateRedis.url };
  log.info("started a private redis-server for this session", { url: privateRedis.url });
}

let rt: Runtime | undefined;
let api: ApiServer | undefined;
try {
  rt = await createRuntime(config, { role: "dev" });
  log.info("embedded mode", {
    database: config.databaseUrl ? "postgres" : `pglite (${config.dataDir}/pglite)`,
    vector_store: config.vectorStore,
    redis: describeRedisTarget(config.redis),
  });
  await startWorker(rt);
  startScheduler(rt);
  api = await startApi(rt);
} catch (err) {
  log.error("Cannot start", { err });
  await rt?.close().catch(() => {});
  await privateRedis?.stop();
  Deno.exit(1);
}

let stopping: Promise<void> | undefined;
signals.shutdown = (signal: string) => {
  stopping ??= (async () => {
    log.info(`${signal} received; shutting down`);
    await api?.close().catch((err) => log.error("stopping api", { err }));
    // Closes the worker (in-flight jobs get WORKER_SHUTDOWN_TIMEOUT_S), then Redis and the database.
    await rt?.close();
    if (privateRedis) await privateRedis.stop();
    log.info("stopped");
    Deno.exit(0);
  })();
};
if (signals.requested) signals.shutdown(signals.requested);
