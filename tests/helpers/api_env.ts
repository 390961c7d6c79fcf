// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * An API over real services for tests: a fresh Postgres schema, a Redis key prefix, pgvector on
 * an in-memory PGlite, and a model registry over a temporary MODELS_DIR holding the tiny test
 * model (or the real default model's cache). Requests go through `app.request()`.
 */
import { join } from "node:path";
import {
  createRuntime,
  loadConfig,
  ModelRegistry,
  openPglite,
  PgvectorStore,
  type Runtime,
  type VectorStore,
} from "@semantik/shared";
import {
  createTestDb,
  createTestRedis,
  testModelsDir,
  TINY_MODEL_NAME,
  withSearchPath,
  writeTinyModel,
} from "@semantik/shared/testing";
import { type ApiApp, type ApiServices, buildServices, createApp } from "@semantik/api";

export interface ApiTestEnv {
  rt: Runtime;
  app: ApiApp;
  services: ApiServices;
  /** A directory inside DOCUMENT_ROOTS for sources. */
  docs: string;
  /** Registers and logs in a user; returns the token and id. */
  user(name?: string): Promise<{ token: string; id: string; username: string }>;
  call(
    method: string,
    path: string,
    options?: {
      token?: string;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
      /** The client's address as the server sees it (`getConnInfo`). @default {none: "unknown"} */
      remoteAddress?: string;
    },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  cleanup(): Promise<void>;
}

/** Options of {@link createApiTestEnv}. */
export interface ApiTestEnvOptions {
  /** `tiny` (fast, meaningless vectors) or `real` (all-MiniLM-L6-v2). @default {"tiny"} */
  model?: "tiny" | "real";
  /** With `real`, also offer the tiny model (for collections of two models). @default {false} */
  alsoTiny?: boolean;
  /** Extra settings. @default {{}} */
  env?: Record<string, string>;
  /** The vector store; the caller closes it. @default {pgvector on an in-memory PGlite} */
  vectors?: VectorStore;
  /**
   * The Postgres server of the test schema, and a streaming replica of it whose copy of the
   * schema becomes `DATABASE_READ_URL`. @default {the test server, no replica}
   */
  database?: { url: string; replicaUrl?: string };
}

let userSeq = 0;

export async function createApiTestEnv(options: ApiTestEnvOptions = {}): Promise<ApiTestEnv> {
  const { model = "tiny" } = options;
  const t = await createTestDb("postgres", { url: options.database?.url });
  const r = await createTestRedis();
  const tmp = await Deno.makeTempDir({ prefix: "semantik-api-" });
  const docs = join(tmp, "docs");
  await Deno.mkdir(docs);
  let modelsDir = testModelsDir();
  if (model === "tiny") {
    modelsDir = join(tmp, "models");
    // 256 tokens like the default model, so the default chunk size (200) fits.
    await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });
  } else if (options.alsoTiny) {
    // The real models' folders linked into a folder of our own, beside the tiny model.
    const real = modelsDir;
    modelsDir = join(tmp, "models");
    await Deno.mkdir(modelsDir);
    for await (const e of Deno.readDir(real)) {
      await Deno.symlink(join(real, e.name), join(modelsDir, e.name));
    }
    await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });
  }
  const config = loadConfig({
    DATA_DIR: join(tmp, "data"),
    ...r.env,
    REDIS_PREFIX: r.prefix,
    DOCUMENT_ROOTS: tmp,
    MODELS_DIR: modelsDir,
    JWT_SECRET: "test-secret-".padEnd(40, "x"),
    LOG_LEVEL: "error",
    // scrypt at 2^14 instead of 2^17: tests register many users (the cost's own tests are in
    // api/auth). Production refuses less than 2^17.
    ...(options.env?.ENVIRONMENT === "production" ? {} : { PASSWORD_HASH_COST: "14" }),
    ...(model === "tiny" ? { DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME } : {}),
    ...(options.database?.replicaUrl
      ? {
        DATABASE_URL: t.url!,
        DATABASE_READ_URL: withSearchPath(options.database.replicaUrl, t.schema!),
      }
      : {}),
    ...options.env,
  });
  const vectorDb = await openPglite();
  const models = new ModelRegistry({ modelsDir, device: "cpu", thread: "main" });
  const rt = await createRuntime(config, {
    role: "api-test",
    db: t.db,
    migrate: false,
    vectors: options.vectors ?? new PgvectorStore(vectorDb),
    models,
  });
  const services = await buildServices(rt, { embedTimeoutMs: 2000 });
  const app = createApp(services);

  const call: ApiTestEnv["call"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | undefined = o.raw;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    } else if (o.raw !== undefined) {
      headers["content-type"] ??= "application/json";
    }
    const res = await app.request(
      path,
      { method, headers, body },
      o.remoteAddress === undefined
        ? undefined
        : { remoteAddr: { hostname: o.remoteAddress, port: 40000, transport: "tcp" } },
    );
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  return {
    rt,
    app,
    services,
    docs,
    async user(name) {
      const username = name ?? `user${++userSeq}_${crypto.randomUUID().slice(0, 6)}`;
      const password = `pw-${username}-secret`;
      const reg = await call("POST", "/api/auth/register", { body: { username, password } });
      if (reg.status !== 201) {
        throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
      }
      const login = await call("POST", "/api/auth/login", { body: { username, password } });
      if (login.status !== 200) {
        throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
      }
      return { token: login.body.access_token, id: reg.body.user.id, username };
    },
    call,
    async cleanup() {
      await rt.close();
      await models.close();
      await vectorDb.close();
      await r.cleanup();
      await t.cleanup();
      await Deno.remove(tmp, { recursive: true });
    },
  };
}
