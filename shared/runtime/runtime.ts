/**
 * The process-wide resources every role shares: settings, the database (migrated), a Redis
 * command connection and the key space. Roles (api, worker, scheduler) take a Runtime; `deno task
 * dev` builds one and runs all three roles on it.
 */
import type { Redis } from "ioredis";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { connectPostgres } from "../db/postgres_driver.ts";
import { type ReadDb, ReadPool } from "../db/read_pool.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { createRedis, KeySpace } from "../redis/redis.ts";
import { QueueClient } from "../queue/queue_client.ts";
import { EventPublisher } from "../events/event_publisher.ts";
import { createVectorStore } from "../vector/create_vector_store.ts";
import type { VectorStore } from "../vector/vector_store.ts";
import { ModelRegistry } from "../embedding/model_registry.ts";
import type { Registry } from "prom-client";
import { counter, createMetricsRegistry } from "../metrics/metrics_registry.ts";
import { ReplicaWait } from "../redis/replica_wait.ts";
import { embeddingMetrics } from "../metrics/embedding_metrics.ts";

export interface Runtime {
  readonly config: Config;
  readonly db: Db;
  /**
   * Where search reads (the pgvector store on the main database, result hydration): the read
   * replica of `DATABASE_READ_URL`, falling back to {@link db}; {@link db} itself when unset.
   */
  readonly readDb: ReadDb;
  /** The read replica's pool when `DATABASE_READ_URL` is set (readiness probes it). */
  readonly readPool: ReadPool | undefined;
  /** Command connection (auto-pipelined). Blocking readers open their own with `redisFactory`. */
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly log: Logger;
  /** Producer/admin side of every queue. */
  readonly queues: QueueClient;
  /** Publishes operation events (ids, streams). */
  readonly events: EventPublisher;
  /** The vector store (`VECTOR_STORE`); made on first use. */
  readonly vectors: VectorStore;
  /** Embedding models under `MODELS_DIR`; sessions load on first use. */
  readonly models: ModelRegistry;
  /**
   * The process's Prometheus registry (made on first use), shared by every role on this runtime:
   * the API serves it at `/metrics`, a worker or scheduler process on `METRICS_PORT`.
   */
  readonly metrics: Registry;
  /** Opens another connection to the configured Redis (e.g. for a blocking reader). */
  redisFactory(name: string, blocking?: boolean): Redis;
  /** Runs `fn` when the runtime closes (last registered, first run). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** Name of the process's role, used for connection names and logs. @default {"semantik"} */
  role?: string;
  /** Use this database instead of opening the configured one (tests). @default {undefined} */
  db?: Db;
  /** Apply pending migrations on start. @default {true} */
  migrate?: boolean;
  /** Use this vector store instead of the configured one (tests). @default {undefined} */
  vectors?: VectorStore;
  /** Use this model registry instead of one over `MODELS_DIR` (tests). @default {undefined} */
  models?: ModelRegistry;
}

export async function createRuntime(
  config: Config,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const { role = "semantik", migrate: doMigrate = true } = options;
  const log = getLogger(role);
  const ownsDb = options.db === undefined;
  const db = options.db ?? await openDatabase(config.databaseUrl, config.dataDir);
  try {
    if (doMigrate) await migrate(db);
  } catch (err) {
    if (ownsDb) await db.close().catch(() => {});
    throw err;
  }
  let metrics: Registry | undefined;
  const metricsRegistry = () => metrics ??= createMetricsRegistry();
  // DATABASE_READ_URL: search's reads go to a streaming replica, the primary when it fails.
  const readPool = config.databaseReadUrl
    ? new ReadPool(
      connectPostgres(config.databaseReadUrl, {
        applicationName: `semantik-${role}-read`,
        connectTimeoutS: 3,
      }),
      db,
      {
        log: log.child({}, "db"),
        onFallback: (reason) =>
          counter(metricsRegistry(), {
            name: "semantik_db_read_fallbacks_total",
            help: "Search reads sent to the primary because the read replica failed " +
              "(reason: error) or was being skipped after a failure (reason: skipped)",
            labelNames: ["reason"] as const,
          }).inc({ reason }),
      },
    )
    : undefined;
  const redis = createRedis(config.redis, { name: `${role}:cmd` });
  let redisErrorLogged = false;
  redis.on("error", (err) => {
    // ioredis reconnects by itself; say so once per outage rather than once per attempt.
    if (!redisErrorLogged) log.warn("redis connection error; reconnecting", { err });
    redisErrorLogged = true;
  });
  redis.on("ready", () => {
    if (redisErrorLogged) log.info("redis connection restored");
    redisErrorLogged = false;
  });
  const closers: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  const keys = new KeySpace(config.redisPrefix);
  let vectors = options.vectors;
  let models = options.models;
  // REDIS_WAIT_REPLICAS: enqueues and terminal events wait for that many replicas.
  const replicaWait = config.redisWaitReplicas > 0
    ? new ReplicaWait(redis, {
      replicas: config.redisWaitReplicas,
      timeoutMs: config.redisWaitTimeoutMs,
      log: log.child({}, "redis"),
      onShortfall: () =>
        counter(metricsRegistry(), {
          name: "semantik_redis_wait_shortfalls_total",
          help:
            "Writes fewer Redis replicas acknowledged than REDIS_WAIT_REPLICAS within the timeout",
        }).inc(),
    })
    : undefined;
  return {
    config,
    db,
    readDb: readPool ?? db,
    readPool,
    redis,
    keys,
    log,
    queues: new QueueClient(redis, { prefix: config.redisPrefix, replicaWait }),
    events: new EventPublisher(redis, keys, { partitions: config.eventPartitions, replicaWait }),
    get vectors() {
      vectors ??= createVectorStore(config, {
        db,
        readDb: readPool,
        logger: log.child({}, "vectors"),
      });
      return vectors;
    },
    get models() {
      models ??= new ModelRegistry({
        modelsDir: config.modelsDir,
        device: config.embeddingDevice,
        precision: config.embeddingPrecision,
        sessions: config.embeddingSessions === "auto" ? undefined : config.embeddingSessions,
        intraOpNumThreads: config.embeddingThreads === "auto" ? undefined : config.embeddingThreads,
        allowSpinning: config.embeddingSpin,
        maxBatchTokens: config.embeddingBatchTokens === "auto"
          ? undefined
          : config.embeddingBatchTokens,
        log: log.child({}, "embedding"),
        observer: embeddingMetrics(metricsRegistry()),
      });
      return models;
    },
    get metrics() {
      return metricsRegistry();
    },
    redisFactory(name: string, blocking = false) {
      const r = createRedis(config.redis, { name: `${role}:${name}`, blocking });
      r.on("error", () => {/* reconnects; the owner reports */});
      return r;
    },
    onClose(fn) {
      closers.push(fn);
    },
    close() {
      closing ??= (async () => {
        for (const fn of closers.reverse()) {
          try {
            await fn();
          } catch (err) {
            log.error("error while closing", { err });
          }
        }
        // Only what this runtime made is closed here; injected stores belong to the caller.
        if (vectors && !options.vectors) {
          await vectors.close().catch((err) => log.error("closing vector store", { err }));
        }
        if (models && !options.models) {
          await models.close().catch((err) => log.error("closing models", { err }));
        }
        redis.disconnect();
        await readPool?.close().catch((err) => log.error("closing the read replica", { err }));
        if (ownsDb) await db.close().catch((err) => log.error("closing database", { err }));
      })();
      return closing;
    },
  };
}
