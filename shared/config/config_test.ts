import assert from "node:assert/strict";
import { ConfigError, DEFAULT_MODEL, loadConfig } from "./config.ts";

Deno.test("loadConfig() applies docs/API.md's defaults to an empty environment", () => {
  const c = loadConfig({}, "/srv/app");
  assert.equal(c.port, 8080);
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.environment, "development");
  assert.equal(c.dataDir, "/srv/app/data");
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.redisUrl, "redis://127.0.0.1:6379");
  assert.equal(c.redisPrefix, "semantik:");
  assert.equal(c.vectorStore, "pgvector");
  assert.equal(c.modelsDir, "/srv/app/data/models");
  assert.equal(c.defaultEmbeddingModel, DEFAULT_MODEL);
  assert.equal(c.embeddingDevice, "auto");
  assert.equal(c.embedQueries, "local");
  assert.deepEqual(c.documentRoots, ["/srv/app"]);
  assert.equal(c.maxFileSizeBytes, 50 * 1024 * 1024);
  assert.equal(c.jwtTtlMinutes, 1440);
  assert.equal(c.allowRegistration, true);
  assert.deepEqual(c.corsOrigins, []);
  assert.deepEqual(c.workerQueues, ["default", "embed"]);
  assert.equal(c.workerMaxConcurrency, 4);
  assert.equal(c.embeddingConcurrencyPerWorker, 1);
  assert.equal(c.workerShutdownTimeoutMs, 30_000);
  assert.equal(c.workerLeaseMs, 30_000);
  assert.equal(c.scheduleSyncCheck, "*/5 * * * *");
  assert.equal(c.scheduleCleanup, "0 3 * * *");
  assert.equal(c.scheduleReconcile, "* * * * *");
  assert.equal(c.operationRetentionDays, 30);
  assert.equal(c.operationMaxRuntimeMinutes, 720);
  assert.equal(c.reconcileGraceMs, 60_000);
  assert.equal(c.logLevel, "info");
});

Deno.test("loadConfig() picks qdrant when QDRANT_URL is set", () => {
  const c = loadConfig({ QDRANT_URL: "http://qdrant:6333" }, "/x");
  assert.equal(c.vectorStore, "qdrant");
  assert.equal(
    loadConfig({ QDRANT_URL: "http://q:6333", VECTOR_STORE: "pgvector" }).vectorStore,
    "pgvector",
  );
});

Deno.test("loadConfig() parses lists, booleans and numbers", () => {
  const c = loadConfig({
    DOCUMENT_ROOTS: "/a, /b ,,",
    CORS_ORIGINS: "https://x.example",
    ALLOW_REGISTRATION: "false",
    WORKER_QUEUES: "embed",
    MAX_FILE_SIZE_MB: "0.5",
    WORKER_SHUTDOWN_TIMEOUT_S: "7",
    WORKER_LEASE_S: "5",
    RECONCILE_GRACE_S: "0",
    PORT: "",
  }, "/x");
  assert.deepEqual(c.documentRoots, ["/a", "/b"]);
  assert.deepEqual(c.corsOrigins, ["https://x.example"]);
  assert.equal(c.allowRegistration, false);
  assert.deepEqual(c.workerQueues, ["embed"]);
  assert.equal(c.maxFileSizeBytes, 524288);
  assert.equal(c.workerShutdownTimeoutMs, 7000);
  assert.equal(c.workerLeaseMs, 5000);
  assert.equal(c.reconcileGraceMs, 0);
  assert.equal(c.port, 8080);
});

Deno.test("loadConfig() names every bad variable in one error", () => {
  let error: unknown;
  try {
    loadConfig({
      PORT: "eighty",
      REDIS_URL: "http://nope",
      EMBEDDING_DEVICE: "tpu",
      SCHEDULE_CLEANUP: "every day",
      WORKER_MAX_CONCURRENCY: "0",
      LOG_LEVEL: "loud",
      WORKER_QUEUES: "default,bogus",
    });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError);
  const vars = error.issues.map((i) => i.variable).sort();
  assert.deepEqual(vars, [
    "EMBEDDING_DEVICE",
    "LOG_LEVEL",
    "PORT",
    "REDIS_URL",
    "SCHEDULE_CLEANUP",
    "WORKER_MAX_CONCURRENCY",
    "WORKER_QUEUES",
  ]);
  for (const v of vars) assert.match(error.message, new RegExp(v));
});

Deno.test("loadConfig() refuses unsafe defaults in production", () => {
  assert.throws(
    () => loadConfig({ ENVIRONMENT: "production" }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.issues.some((i) => i.variable === "JWT_SECRET") &&
      err.issues.some((i) => i.variable === "DOCUMENT_ROOTS"),
  );
  const ok = loadConfig({
    ENVIRONMENT: "production",
    JWT_SECRET: "x".repeat(40),
    DOCUMENT_ROOTS: "/data/docs",
  });
  assert.equal(ok.environment, "production");
});

Deno.test("a process with bad settings prints one message and exits non-zero", async () => {
  const script = new URL("./config.ts", import.meta.url).href;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { loadConfigOrExit } from "${script}"; loadConfigOrExit();`],
    env: { PORT: "-1", LOG_LEVEL: "chatty", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  assert.notEqual(out.code, 0);
  const stderr = new TextDecoder().decode(out.stderr).trim();
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, /PORT/);
  assert.match(stderr, /LOG_LEVEL/);
});

Deno.test("loadConfig() refuses a schedule the scheduler would refuse, naming the setting", () => {
  for (const bad of ["0 0 * * * *", "@daily", "0 3 ? * *", "0 0 * * 1-7", "61 * * * *"]) {
    let error: unknown;
    try {
      loadConfig({ SCHEDULE_CLEANUP: bad });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError, `${bad} was accepted`);
    assert.deepEqual(error.issues.map((i) => i.variable), ["SCHEDULE_CLEANUP"]);
  }
  assert.equal(loadConfig({ SCHEDULE_CLEANUP: " 0  3 * * MON " }).scheduleCleanup, "0 3 * * MON");
});

Deno.test("METRICS_PORT takes a port or off and is left to the role's default when unset", () => {
  assert.equal(loadConfig({}).metricsPort, undefined);
  assert.equal(loadConfig({ METRICS_PORT: "9100" }).metricsPort, 9100);
  assert.equal(loadConfig({ METRICS_PORT: "0" }).metricsPort, 0);
  assert.equal(loadConfig({ METRICS_PORT: "off" }).metricsPort, "off");
  for (const bad of ["70000", "on", "-1"]) {
    assert.throws(() => loadConfig({ METRICS_PORT: bad }), /METRICS_PORT/);
  }
});

Deno.test("loadConfig() reads the source settings: private networks refused and no secrets key by default", () => {
  const d = loadConfig({}, "/srv/app");
  assert.equal(d.sourceAllowPrivateNetworks, false);
  assert.equal(d.secretsKey, undefined);
  const c = loadConfig({ SOURCE_ALLOW_PRIVATE_NETWORKS: "true", SECRETS_KEY: "k".repeat(32) });
  assert.equal(c.sourceAllowPrivateNetworks, true);
  assert.equal(c.secretsKey, "k".repeat(32));
  assert.throws(
    () => loadConfig({ SECRETS_KEY: "short", SOURCE_ALLOW_PRIVATE_NETWORKS: "maybe" }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.issues.some((i) => i.variable === "SECRETS_KEY") &&
      err.issues.some((i) => i.variable === "SOURCE_ALLOW_PRIVATE_NETWORKS"),
  );
  // Production starts without a secrets key: it is required only once a secret is stored.
  assert.equal(
    loadConfig({ ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40), DOCUMENT_ROOTS: "/d" })
      .secretsKey,
    undefined,
  );
});

Deno.test("loadConfig() reads the CPU embedding settings: auto or a number, and names bad ones", () => {
  const defaults = loadConfig({});
  assert.equal(defaults.embeddingSessions, "auto");
  assert.equal(defaults.embeddingThreads, "auto");
  assert.equal(defaults.embeddingSpin, false);
  assert.equal(defaults.embeddingPrecision, "auto");
  assert.equal(defaults.embeddingBatchTokens, "auto");
  const set = loadConfig({
    EMBEDDING_SESSIONS: "2",
    EMBEDDING_THREADS: "3",
    EMBEDDING_SPIN: "true",
    EMBEDDING_PRECISION: "int8",
    EMBEDDING_BATCH_TOKENS: "1024",
  });
  assert.equal(set.embeddingSessions, 2);
  assert.equal(set.embeddingThreads, 3);
  assert.equal(set.embeddingSpin, true);
  assert.equal(set.embeddingPrecision, "int8");
  assert.equal(set.embeddingBatchTokens, 1024);
  let error: unknown;
  try {
    loadConfig({
      EMBEDDING_SESSIONS: "65",
      EMBEDDING_THREADS: "0",
      EMBEDDING_PRECISION: "int4",
      EMBEDDING_BATCH_TOKENS: "lots",
    });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.issues.map((i) => i.variable).sort(), [
    "EMBEDDING_BATCH_TOKENS",
    "EMBEDDING_PRECISION",
    "EMBEDDING_SESSIONS",
    "EMBEDDING_THREADS",
  ]);
});

Deno.test("loadConfig(): production keeps registration closed unless ALLOW_REGISTRATION=true", () => {
  const prod = {
    ENVIRONMENT: "production",
    JWT_SECRET: "s".repeat(32),
    DOCUMENT_ROOTS: "/docs",
  };
  assert.equal(loadConfig(prod, "/x").allowRegistration, false);
  assert.equal(loadConfig({ ...prod, ALLOW_REGISTRATION: "" }, "/x").allowRegistration, false);
  assert.equal(loadConfig({ ...prod, ALLOW_REGISTRATION: "true" }, "/x").allowRegistration, true);
  assert.equal(loadConfig({}, "/x").allowRegistration, true);
  assert.equal(loadConfig({ ALLOW_REGISTRATION: "no" }, "/x").allowRegistration, false);
  assert.throws(() => loadConfig({ ALLOW_REGISTRATION: "maybe" }, "/x"), ConfigError);
});

Deno.test("loadConfig(): PASSWORD_HASH_COST is 17 by default and at least 17 in production", () => {
  assert.equal(loadConfig({}, "/x").passwordHashCost, 17);
  assert.equal(loadConfig({ PASSWORD_HASH_COST: "14" }, "/x").passwordHashCost, 14);
  assert.throws(() => loadConfig({ PASSWORD_HASH_COST: "13" }, "/x"), ConfigError);
  const prod = { ENVIRONMENT: "production", JWT_SECRET: "s".repeat(32), DOCUMENT_ROOTS: "/docs" };
  assert.throws(
    () => loadConfig({ ...prod, PASSWORD_HASH_COST: "16" }, "/x"),
    (err: unknown) =>
      err instanceof ConfigError && err.issues.some((i) => i.variable === "PASSWORD_HASH_COST"),
  );
  assert.equal(loadConfig({ ...prod, PASSWORD_HASH_COST: "18" }, "/x").passwordHashCost, 18);
});

Deno.test("loadConfig() reads RERANK_MODEL as a directory relative to the working directory", () => {
  assert.equal(loadConfig({}, "/srv/app").rerankModel, undefined);
  assert.equal(loadConfig({ RERANK_MODEL: "" }, "/srv/app").rerankModel, undefined);
  assert.equal(
    loadConfig({ RERANK_MODEL: "models/ce" }, "/srv/app").rerankModel,
    "/srv/app/models/ce",
  );
  assert.equal(loadConfig({ RERANK_MODEL: "/m/ce" }, "/srv/app").rerankModel, "/m/ce");
});

Deno.test("loadConfig(): event partitions, Qdrant distribution, the pgvector indexing threshold and replica waits", () => {
  const d = loadConfig({}, "/x");
  assert.equal(d.eventPartitions, 8);
  assert.equal(d.qdrantShards, 1);
  assert.equal(d.qdrantReplication, 1);
  assert.equal(d.pgvectorIndexingThresholdKb, 10_000);
  assert.equal(d.redisWaitReplicas, 0);
  assert.equal(d.redisWaitTimeoutMs, 1000);
  const c = loadConfig({
    EVENT_PARTITIONS: "16",
    QDRANT_SHARDS: "6",
    QDRANT_REPLICATION: "2",
    PGVECTOR_INDEXING_THRESHOLD_KB: "0",
    REDIS_WAIT_REPLICAS: "1",
    REDIS_WAIT_TIMEOUT_MS: "250",
  }, "/x");
  assert.equal(c.eventPartitions, 16);
  assert.equal(c.qdrantShards, 6);
  assert.equal(c.qdrantReplication, 2);
  assert.equal(c.pgvectorIndexingThresholdKb, 0);
  assert.equal(c.redisWaitReplicas, 1);
  assert.equal(c.redisWaitTimeoutMs, 250);
  assert.throws(
    () =>
      loadConfig({
        EVENT_PARTITIONS: "0",
        QDRANT_SHARDS: "0",
        QDRANT_REPLICATION: "x",
        PGVECTOR_INDEXING_THRESHOLD_KB: "-5",
        REDIS_WAIT_REPLICAS: "-1",
        REDIS_WAIT_TIMEOUT_MS: "0",
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (
        const v of [
          "EVENT_PARTITIONS",
          "QDRANT_SHARDS",
          "QDRANT_REPLICATION",
          "PGVECTOR_INDEXING_THRESHOLD_KB",
          "REDIS_WAIT_REPLICAS",
          "REDIS_WAIT_TIMEOUT_MS",
        ]
      ) {
        assert.ok(err.message.includes(v), `${v} in ${err.message}`);
      }
      return true;
    },
  );
  assert.throws(() => loadConfig({ EVENT_PARTITIONS: "1025" }), ConfigError);
});

Deno.test("loadConfig() reads the webhook settings: private targets refused by default, bounded retries", () => {
  const d = loadConfig({}, "/srv/app");
  assert.deepEqual(
    [
      d.webhookAllowPrivate,
      d.webhookTimeoutMs,
      d.webhookMaxAttempts,
      d.webhookRetryDelayMs,
      d.scheduleWebhookSweep,
    ],
    [false, 10_000, 8, 10_000, "* * * * *"],
  );
  const c = loadConfig({
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_TIMEOUT_S: "3",
    WEBHOOK_MAX_ATTEMPTS: "4",
    WEBHOOK_RETRY_DELAY_MS: "50",
    SCHEDULE_WEBHOOK_SWEEP: "*/2 * * * *",
  });
  assert.deepEqual(
    [
      c.webhookAllowPrivate,
      c.webhookTimeoutMs,
      c.webhookMaxAttempts,
      c.webhookRetryDelayMs,
      c.scheduleWebhookSweep,
    ],
    [true, 3000, 4, 50, "*/2 * * * *"],
  );
  assert.throws(
    () =>
      loadConfig({
        WEBHOOK_ALLOW_PRIVATE: "maybe",
        WEBHOOK_TIMEOUT_S: "0",
        WEBHOOK_MAX_ATTEMPTS: "0",
        WEBHOOK_RETRY_DELAY_MS: "0",
      }),
    (err: unknown) =>
      err instanceof ConfigError &&
      [
        "WEBHOOK_ALLOW_PRIVATE",
        "WEBHOOK_TIMEOUT_S",
        "WEBHOOK_MAX_ATTEMPTS",
        "WEBHOOK_RETRY_DELAY_MS",
      ]
        .every((v) => err.issues.some((i) => i.variable === v)),
  );
});

Deno.test("loadConfig(): DATABASE_READ_URL is unset by default, needs DATABASE_URL and a postgres URL", () => {
  assert.equal(loadConfig({}, "/x").databaseReadUrl, undefined);
  const c = loadConfig({
    DATABASE_URL: "postgres://app@primary/semantik",
    DATABASE_READ_URL: "postgres://app@replica/semantik",
  }, "/x");
  assert.equal(c.databaseReadUrl, "postgres://app@replica/semantik");
  for (
    const env of [
      { DATABASE_READ_URL: "postgres://app@replica/semantik" },
      { DATABASE_URL: "postgres://app@primary/semantik", DATABASE_READ_URL: "http://replica" },
    ]
  ) {
    assert.throws(() => loadConfig(env, "/x"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.variable), ["DATABASE_READ_URL"]);
      return true;
    });
  }
});

Deno.test("loadConfig(): WORKER_PREFETCH is auto by default, or a whole number from 0, and names bad ones", () => {
  assert.equal(loadConfig({}).workerPrefetch, "auto");
  assert.equal(loadConfig({ WORKER_PREFETCH: "0" }).workerPrefetch, 0);
  assert.equal(loadConfig({ WORKER_PREFETCH: "16" }).workerPrefetch, 16);
  for (const bad of ["-1", "2.5", "lots", "1025"]) {
    assert.throws(
      () => loadConfig({ WORKER_PREFETCH: bad }),
      (err: unknown) =>
        err instanceof ConfigError && err.issues.some((i) => i.variable === "WORKER_PREFETCH"),
      `WORKER_PREFETCH=${bad}`,
    );
  }
});
