/**
 * One zod schema over the environment. Every process reads its settings through
 * {@link loadConfig}; names and defaults follow docs/API.md's settings table.
 */
import { z } from "zod";
import { resolve } from "node:path";
import { normalizeCronSchedule } from "./cron_schedule.ts";
import {
  redisEnvShape,
  RedisSettingsError,
  type RedisTarget,
  redisTargetOf,
} from "../redis/redis_target.ts";

export const DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2";
export const QUEUE_NAMES = ["default", "embed"] as const;

/**
 * `METRICS_PORT` when unset, by role: different, so that a worker and a scheduler on one host
 * (outside containers) do not collide.
 */
export const DEFAULT_METRICS_PORTS = { worker: 9464, scheduler: 9465 } as const;

/** Thrown by {@link loadConfig}; the message names every bad variable. */
export class ConfigError extends Error {
  readonly issues: { variable: string; message: string }[];
  constructor(issues: { variable: string; message: string }[]) {
    super(
      `Invalid settings: ${issues.map((i) => `${i.variable}: ${i.message}`).join("; ")}`,
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

const blankToUndefined = (v: unknown) => typeof v === "string" && v.trim() === "" ? undefined : v;
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(def));
/** `auto` (the default) or a whole number from `min` to `max`. */
const autoOrInt = (min: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.union([z.literal("auto"), z.coerce.number().int().min(min).max(max)], {
      error: `must be auto or a whole number from ${min} to ${max}`,
    }).default("auto"),
  );
const bool = (def: boolean) =>
  z.preprocess(
    blankToUndefined,
    z.enum(["true", "false", "1", "0", "yes", "no"]).default(def ? "true" : "false")
      .transform((v) => v === "true" || v === "1" || v === "yes"),
  );
const list = z.preprocess(
  blankToUndefined,
  z.string().optional().transform((v) =>
    v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter((s) => s !== "")
  ),
);
const cron = (def: string) =>
  z.preprocess(
    blankToUndefined,
    // The scheduler's own rules (Deno.cron's and croner's), so that a schedule it would refuse
    // is refused here, at start, with every other bad setting.
    z.string().default(def).transform((expr, ctx) => {
      try {
        return normalizeCronSchedule(expr);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `not a schedule: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  );
const url = (...protocols: string[]) =>
  opt(
    z.string().refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL (${protocols.join(" or ")})`),
  );

const envSchema = z.object({
  PORT: int(8080, 0, 65535),
  HOST: z.preprocess(blankToUndefined, z.string().default("127.0.0.1")),
  ENVIRONMENT: z.preprocess(
    blankToUndefined,
    z.enum(["development", "production"]).default("development"),
  ),
  DATA_DIR: z.preprocess(blankToUndefined, z.string().default("./data")),
  DATABASE_URL: url("postgres:", "postgresql:"),
  DATABASE_READ_URL: url("postgres:", "postgresql:"),
  // REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS, REDIS_SENTINEL_NAME, credentials and TLS.
  ...redisEnvShape,
  REDIS_PREFIX: z.preprocess(
    blankToUndefined,
    z.string().regex(/^[A-Za-z0-9_:.-]*$/, "may hold letters, digits and _ : . - only")
      .default("semantik:"),
  ),
  VECTOR_STORE: opt(z.enum(["qdrant", "pgvector"])),
  QDRANT_URL: url("http:", "https:"),
  QDRANT_API_KEY: opt(z.string()),
  VECTOR_DATABASE_URL: url("postgres:", "postgresql:"),
  MODELS_DIR: opt(z.string()),
  DEFAULT_EMBEDDING_MODEL: z.preprocess(blankToUndefined, z.string().default(DEFAULT_MODEL)),
  EMBEDDING_DEVICE: z.preprocess(
    blankToUndefined,
    z.enum(["auto", "cpu", "cuda", "webgpu"]).default("auto"),
  ),
  EMBEDDING_SESSIONS: autoOrInt(1, 64),
  EMBEDDING_THREADS: autoOrInt(1, 1024),
  EMBEDDING_SPIN: bool(false),
  EMBEDDING_PRECISION: z.preprocess(
    blankToUndefined,
    z.enum(["auto", "fp32", "fp16", "int8"]).default("auto"),
  ),
  EMBEDDING_BATCH_TOKENS: autoOrInt(1, 1_048_576),
  EMBED_QUERIES: z.preprocess(blankToUndefined, z.enum(["local", "worker"]).default("local")),
  RERANK_MODEL: opt(z.string().min(1)),
  DOCUMENT_ROOTS: list,
  MAX_FILE_SIZE_MB: z.preprocess(blankToUndefined, z.coerce.number().positive().default(50)),
  JWT_SECRET: opt(z.string().min(32, "must be at least 32 characters")),
  JWT_TTL_MINUTES: int(1440, 1),
  SECRETS_KEY: opt(z.string().min(32, "must be at least 32 characters")),
  SOURCE_ALLOW_PRIVATE_NETWORKS: bool(false),
  WEBHOOK_ALLOW_PRIVATE: bool(false),
  WEBHOOK_TIMEOUT_S: int(10, 1, 300),
  WEBHOOK_MAX_ATTEMPTS: int(8, 1, 50),
  WEBHOOK_RETRY_DELAY_MS: int(10_000, 1, 3_600_000),
  // No default here: production keeps registration closed unless it is set explicitly.
  ALLOW_REGISTRATION: opt(
    z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) =>
      v === "true" || v === "1" || v === "yes"
    ),
  ),
  PASSWORD_HASH_COST: int(17, 14, 20),
  CORS_ORIGINS: list,
  METRICS_TOKEN: opt(z.string().min(1)),
  METRICS_PORT: opt(
    z.union([
      z.literal("off"),
      z.coerce.number().int().min(0).max(65535),
    ], { error: "must be a port (0 to 65535) or off" }),
  ),
  WORKER_QUEUES: list.refine(
    (v) => v === undefined || v.every((q) => (QUEUE_NAMES as readonly string[]).includes(q)),
    `each queue must be one of ${QUEUE_NAMES.join(", ")}`,
  ),
  WORKER_MAX_CONCURRENCY: int(4, 1, 1024),
  EMBEDDING_CONCURRENCY_PER_WORKER: int(1, 1, 64),
  WORKER_SHUTDOWN_TIMEOUT_S: int(30, 0),
  WORKER_LEASE_S: int(30, 1, 3600),
  WORKER_PREFETCH: autoOrInt(0, 1024),
  SCHEDULE_SYNC_CHECK: cron("*/5 * * * *"),
  SCHEDULE_CLEANUP: cron("0 3 * * *"),
  SCHEDULE_RECONCILE: cron("* * * * *"),
  SCHEDULE_WEBHOOK_SWEEP: cron("* * * * *"),
  OPERATION_RETENTION_DAYS: int(30, 1),
  EVENT_PARTITIONS: int(8, 1, 1024),
  PGVECTOR_INDEXING_THRESHOLD_KB: int(10_000, 0, 1 << 30),
  QDRANT_SHARDS: int(1, 1, 1024),
  QDRANT_REPLICATION: int(1, 1, 64),
  REDIS_WAIT_REPLICAS: int(0, 0, 64),
  REDIS_WAIT_TIMEOUT_MS: int(1000, 1, 60_000),
  OPERATION_MAX_RUNTIME_MINUTES: int(720, 1),
  RECONCILE_GRACE_S: int(60, 0, 86400),
  LOG_LEVEL: z.preprocess(
    blankToUndefined,
    z.enum(["debug", "info", "warn", "error"]).default("info"),
  ),
});

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The validated settings of one process. */
export interface Config {
  port: number;
  host: string;
  environment: "development" | "production";
  dataDir: string;
  /** Postgres URL; undefined means the embedded PGlite under {@link dataDir}. */
  databaseUrl: string | undefined;
  /**
   * `DATABASE_READ_URL`: a streaming replica of {@link databaseUrl} that search reads from
   * (undefined: search reads the primary).
   */
  databaseReadUrl: string | undefined;
  /** `REDIS_URL`; only used when {@link redis} is a single node. */
  redisUrl: string;
  /** Where Redis is: one node, a cluster or Sentinel, with credentials and TLS. */
  redis: RedisTarget;
  redisPrefix: string;
  vectorStore: "qdrant" | "pgvector";
  qdrantUrl: string | undefined;
  qdrantApiKey: string | undefined;
  /** Database of the pgvector store; undefined means the main database. */
  vectorDatabaseUrl: string | undefined;
  modelsDir: string;
  defaultEmbeddingModel: string;
  embeddingDevice: "auto" | "cpu" | "cuda" | "webgpu";
  /**
   * Sessions of a model on the CPU, running batches side by side; "auto": one per core
   * available, at most 4.
   */
  embeddingSessions: "auto" | number;
  /** Threads per CPU session; "auto": the cores available (cgroup quota included) shared out. */
  embeddingThreads: "auto" | number;
  /** Idle inference threads spin (faster between operators, CPU burnt). */
  embeddingSpin: boolean;
  /** Precision of new collections' vectors; "auto": int8 on a CPU, fp16 on CUDA. */
  embeddingPrecision: "auto" | "fp32" | "fp16" | "int8";
  /** Padded tokens per inference batch; "auto": per device (CPU 512, GPU 32768). */
  embeddingBatchTokens: "auto" | number;
  embedQueries: "local" | "worker";
  /**
   * A cross-encoder's directory (`model.onnx`, `tokenizer.json`) for `rerank: true`; undefined:
   * no reranker (such searches are 422). Run where queries are embedded (`EMBED_QUERIES`).
   */
  rerankModel: string | undefined;
  documentRoots: string[];
  maxFileSizeBytes: number;
  jwtSecret: string | undefined;
  jwtTtlMinutes: number;
  /** Key of the secrets sources store (Git tokens); see `resolveSecretsKey`. */
  secretsKey: string | undefined;
  /** Web sources may fetch loopback and private-network addresses. */
  sourceAllowPrivateNetworks: boolean;
  /** Webhooks may target loopback and private-network addresses (`WEBHOOK_ALLOW_PRIVATE`). */
  webhookAllowPrivate: boolean;
  /** Time limit of one webhook delivery attempt, headers and body (`WEBHOOK_TIMEOUT_S`). */
  webhookTimeoutMs: number;
  /** Attempts of a webhook delivery before it goes to the dead letters. */
  webhookMaxAttempts: number;
  /** Delay before a delivery's first retry; it doubles for each later one (jittered). */
  webhookRetryDelayMs: number;
  /** `ALLOW_REGISTRATION`; when unset, open in development and closed in production. */
  allowRegistration: boolean;
  /** log2 of scrypt's N for new password hashes (`PASSWORD_HASH_COST`). */
  passwordHashCost: number;
  corsOrigins: string[];
  metricsToken: string | undefined;
  /**
   * Port of a worker's or the scheduler's `/metrics` and `/healthz` (on `HOST`); `"off"` serves
   * none; undefined: the role's default ({@link DEFAULT_METRICS_PORTS}). `deno task dev` serves
   * every role's metrics at the API's `/metrics` and ignores it.
   */
  metricsPort: number | "off" | undefined;
  /** Queues this worker serves. */
  workerQueues: string[];
  workerMaxConcurrency: number;
  embeddingConcurrencyPerWorker: number;
  workerShutdownTimeoutMs: number;
  /** A running job's lease: another worker takes over a job its owner stopped renewing this long. */
  workerLeaseMs: number;
  /**
   * Jobs a queue worker reads ahead beyond its free slots (WORKER_PREFETCH); `"auto"` sizes it
   * from measured handler times.
   */
  workerPrefetch: number | "auto";
  scheduleSyncCheck: string;
  scheduleCleanup: string;
  scheduleReconcile: string;
  /** When the sweep enqueues webhook deliveries recorded but never enqueued. */
  scheduleWebhookSweep: string;
  operationRetentionDays: number;
  /** `EVENT_PARTITIONS`: global event streams (Redis Cluster slots) the events are sharded over. */
  eventPartitions: number;
  /**
   * `PGVECTOR_INDEXING_THRESHOLD_KB`: a pgvector collection gets its HNSW index once its vectors
   * take this many KB as float32 (searched exactly below it); 0: from its first point.
   */
  pgvectorIndexingThresholdKb: number;
  /** `QDRANT_SHARDS`: `shard_number` of collections the Qdrant store creates. */
  qdrantShards: number;
  /** `QDRANT_REPLICATION`: `replication_factor` of collections the Qdrant store creates. */
  qdrantReplication: number;
  /** `REDIS_WAIT_REPLICAS`: replicas `WAIT` asks for after enqueues and terminal events (0: off). */
  redisWaitReplicas: number;
  /** `REDIS_WAIT_TIMEOUT_MS`: longest `WAIT`, in ms. */
  redisWaitTimeoutMs: number;
  operationMaxRuntimeMinutes: number;
  /** Reconcile leaves operations whose row changed more recently than this alone. */
  reconcileGraceMs: number;
  logLevel: LogLevel;
}

/**
 * Validates the environment. Throws {@link ConfigError} naming every bad variable at once.
 *
 * @param env the variables to read; defaults to the process environment.
 * @param cwd directory used for relative paths and the development `DOCUMENT_ROOTS` default.
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  cwd: string = Deno.cwd(),
): Config {
  const parsed = envSchema.safeParse(env);
  const issues: { variable: string; message: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ variable: String(issue.path[0] ?? "environment"), message: issue.message });
    }
    throw new ConfigError(dedupe(issues));
  }
  const e = parsed.data;
  const production = e.ENVIRONMENT === "production";

  let redis: RedisTarget | undefined;
  try {
    redis = redisTargetOf(e);
  } catch (err) {
    if (!(err instanceof RedisSettingsError)) throw err;
    issues.push(...err.issues);
  }
  if (e.DATABASE_READ_URL && !e.DATABASE_URL) {
    issues.push({
      variable: "DATABASE_READ_URL",
      message: "needs DATABASE_URL (a read replica of the embedded database cannot exist)",
    });
  }
  if (e.VECTOR_STORE === "qdrant" && !e.QDRANT_URL) {
    issues.push({ variable: "QDRANT_URL", message: "required when VECTOR_STORE=qdrant" });
  }
  if (production) {
    if (!e.JWT_SECRET) {
      issues.push({
        variable: "JWT_SECRET",
        message: "required in production (at least 32 random characters)",
      });
    }
    if (!e.DOCUMENT_ROOTS || e.DOCUMENT_ROOTS.length === 0) {
      issues.push({
        variable: "DOCUMENT_ROOTS",
        message: "required in production (comma-separated absolute directories)",
      });
    }
    if (e.PASSWORD_HASH_COST < 17) {
      issues.push({
        variable: "PASSWORD_HASH_COST",
        message: `must be at least 17 in production (scrypt N = 2^17), got ${e.PASSWORD_HASH_COST}`,
      });
    }
  }
  if (issues.length > 0 || !redis) throw new ConfigError(issues);

  const dataDir = resolve(cwd, e.DATA_DIR);
  const documentRoots = (e.DOCUMENT_ROOTS && e.DOCUMENT_ROOTS.length > 0)
    ? e.DOCUMENT_ROOTS.map((r) => resolve(cwd, r))
    : [cwd];
  return {
    port: e.PORT,
    host: e.HOST,
    environment: e.ENVIRONMENT,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    databaseReadUrl: e.DATABASE_READ_URL,
    redisUrl: e.REDIS_URL,
    redis,
    redisPrefix: e.REDIS_PREFIX,
    vectorStore: e.VECTOR_STORE ?? (e.QDRANT_URL ? "qdrant" : "pgvector"),
    qdrantUrl: e.QDRANT_URL,
    qdrantApiKey: e.QDRANT_API_KEY,
    vectorDatabaseUrl: e.VECTOR_DATABASE_URL,
    modelsDir: e.MODELS_DIR ? resolve(cwd, e.MODELS_DIR) : resolve(dataDir, "models"),
    defaultEmbeddingModel: e.DEFAULT_EMBEDDING_MODEL,
    embeddingDevice: e.EMBEDDING_DEVICE,
    embeddingSessions: e.EMBEDDING_SESSIONS,
    embeddingThreads: e.EMBEDDING_THREADS,
    embeddingSpin: e.EMBEDDING_SPIN,
    embeddingPrecision: e.EMBEDDING_PRECISION,
    embeddingBatchTokens: e.EMBEDDING_BATCH_TOKENS,
    embedQueries: e.EMBED_QUERIES,
    rerankModel: e.RERANK_MODEL ? resolve(cwd, e.RERANK_MODEL) : undefined,
    documentRoots,
    maxFileSizeBytes: Math.round(e.MAX_FILE_SIZE_MB * 1024 * 1024),
    jwtSecret: e.JWT_SECRET,
    jwtTtlMinutes: e.JWT_TTL_MINUTES,
    secretsKey: e.SECRETS_KEY,
    sourceAllowPrivateNetworks: e.SOURCE_ALLOW_PRIVATE_NETWORKS,
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_S * 1000,
    webhookMaxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
    webhookRetryDelayMs: e.WEBHOOK_RETRY_DELAY_MS,
    allowRegistration: e.ALLOW_REGISTRATION ?? !production,
    passwordHashCost: e.PASSWORD_HASH_COST,
    corsOrigins: e.CORS_ORIGINS ?? [],
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
    workerQueues: e.WORKER_QUEUES && e.WORKER_QUEUES.length > 0
      ? e.WORKER_QUEUES
      : [...QUEUE_NAMES],
    workerMaxConcurrency: e.WORKER_MAX_CONCURRENCY,
    embeddingConcurrencyPerWorker: e.EMBEDDING_CONCURRENCY_PER_WORKER,
    workerShutdownTimeoutMs: e.WORKER_SHUTDOWN_TIMEOUT_S * 1000,
    workerLeaseMs: e.WORKER_LEASE_S * 1000,
    workerPrefetch: e.WORKER_PREFETCH,
    scheduleSyncCheck: e.SCHEDULE_SYNC_CHECK,
    scheduleCleanup: e.SCHEDULE_CLEANUP,
    scheduleReconcile: e.SCHEDULE_RECONCILE,
    scheduleWebhookSweep: e.SCHEDULE_WEBHOOK_SWEEP,
    operationRetentionDays: e.OPERATION_RETENTION_DAYS,
    eventPartitions: e.EVENT_PARTITIONS,
    pgvectorIndexingThresholdKb: e.PGVECTOR_INDEXING_THRESHOLD_KB,
    qdrantShards: e.QDRANT_SHARDS,
    qdrantReplication: e.QDRANT_REPLICATION,
    redisWaitReplicas: e.REDIS_WAIT_REPLICAS,
    redisWaitTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
    operationMaxRuntimeMinutes: e.OPERATION_MAX_RUNTIME_MINUTES,
    reconcileGraceMs: e.RECONCILE_GRACE_S * 1000,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * {@link loadConfig} for entry points: on bad settings prints one message naming every bad
 * variable and exits with status 78 (EX_CONFIG).
 */
export function loadConfigOrExit(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      Deno.exit(78);
    }
    throw err;
  }
}

function dedupe(issues: { variable: string; message: string }[]) {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.variable}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
