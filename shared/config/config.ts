/**
 * One zod schema over the environment. Every process reads its settings through
 * {@link loadConfig}; names and defaults follow docs/API.md's settings table.
 */
import { z } from "zod";
import { resolve } from "node:path";
import { normalizeCronSchedule } from "./cron_schedule.ts";

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
  REDIS_URL: z.preprocess(
    blankToUndefined,
    z.string().default("redis://127.0.0.1:6379").refine((v) => {
      try {
        return ["redis:", "rediss:"].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, "must be a redis:// or rediss:// URL"),
  ),
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
  EMBED_QUERIES: z.preprocess(blankToUndefined, z.enum(["local", "worker"]).default("local")),
  DOCUMENT_ROOTS: list,
  MAX_FILE_SIZE_MB: z.preprocess(blankToUndefined, z.coerce.number().positive().default(50)),
  JWT_SECRET: opt(z.string().min(32, "must be at least 32 characters")),
  JWT_TTL_MINUTES: int(1440, 1),
  SECRETS_KEY: opt(z.string().min(32, "must be at least 32 characters")),
  SOURCE_ALLOW_PRIVATE_NETWORKS: bool(false),
  ALLOW_REGISTRATION: bool(true),
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
  SCHEDULE_SYNC_CHECK: cron("*/5 * * * *"),
  SCHEDULE_CLEANUP: cron("0 3 * * *"),
  SCHEDULE_RECONCILE: cron("* * * * *"),
  OPERATION_RETENTION_DAYS: int(30, 1),
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
  redisUrl: string;
  redisPrefix: string;
  vectorStore: "qdrant" | "pgvector";
  qdrantUrl: string | undefined;
  qdrantApiKey: string | undefined;
  /** Database of the pgvector store; undefined means the main database. */
  vectorDatabaseUrl: string | undefined;
  modelsDir: string;
  defaultEmbeddingModel: string;
  embeddingDevice: "auto" | "cpu" | "cuda" | "webgpu";
  embedQueries: "local" | "worker";
  documentRoots: string[];
  maxFileSizeBytes: number;
  jwtSecret: string | undefined;
  jwtTtlMinutes: number;
  /** Key of the secrets sources store (Git tokens); see `resolveSecretsKey`. */
  secretsKey: string | undefined;
  /** Web sources may fetch loopback and private-network addresses. */
  sourceAllowPrivateNetworks: boolean;
  allowRegistration: boolean;
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
  scheduleSyncCheck: string;
  scheduleCleanup: string;
  scheduleReconcile: string;
  operationRetentionDays: number;
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
  }
  if (issues.length > 0) throw new ConfigError(issues);

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
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    vectorStore: e.VECTOR_STORE ?? (e.QDRANT_URL ? "qdrant" : "pgvector"),
    qdrantUrl: e.QDRANT_URL,
    qdrantApiKey: e.QDRANT_API_KEY,
    vectorDatabaseUrl: e.VECTOR_DATABASE_URL,
    modelsDir: e.MODELS_DIR ? resolve(cwd, e.MODELS_DIR) : resolve(dataDir, "models"),
    defaultEmbeddingModel: e.DEFAULT_EMBEDDING_MODEL,
    embeddingDevice: e.EMBEDDING_DEVICE,
    embedQueries: e.EMBED_QUERIES,
    documentRoots,
    maxFileSizeBytes: Math.round(e.MAX_FILE_SIZE_MB * 1024 * 1024),
    jwtSecret: e.JWT_SECRET,
    jwtTtlMinutes: e.JWT_TTL_MINUTES,
    secretsKey: e.SECRETS_KEY,
    sourceAllowPrivateNetworks: e.SOURCE_ALLOW_PRIVATE_NETWORKS,
    allowRegistration: e.ALLOW_REGISTRATION,
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
    scheduleSyncCheck: e.SCHEDULE_SYNC_CHECK,
    scheduleCleanup: e.SCHEDULE_CLEANUP,
    scheduleReconcile: e.SCHEDULE_RECONCILE,
    operationRetentionDays: e.OPERATION_RETENTION_DAYS,
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
