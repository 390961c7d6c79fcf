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
