/**
 * A whole indexing system in the test process for the indexing, sync and reindex tests: a fresh
 * database (a server schema or PGlite), a Redis prefix, a pgvector store (an in-process PGlite of
 * its own, or the same PGlite as the metadata), the tiny model, a documents directory inside
 * DOCUMENT_ROOTS, a user, and optionally a worker running every handler. Also helpers to start
 * operations through the functions the API calls and to wait for them.
 */
import { join } from "node:path";
import {
  type Config,
  createRuntime,
  dispatchOperation,
  lazySecretBox,
  loadConfig,
  ModelRegistry,
  openPglite,
  type OperationRow,
  PgvectorStore,
  resolveSourcePath,
  type Runtime,
  type VectorStore,
} from "@semantik/shared";
import type { CollectionDeps } from "../api/collections/collections.ts";
import {
  createTestDb,
  createTestRedis,
  OPERATION_MS,
  type TestDb,
  type TestRedis,
  TINY_MODEL_NAME,
  waitFor,
  writeTinyModel,
} from "@semantik/shared/testing";
import { startWorker, type StartWorkerOptions, type WorkerRuntime } from "@semantik/worker";

/** Queue settings that make takeovers quick in tests. */
export const FAST_QUEUE = {
  leaseMs: 1500,
  heartbeatMs: 250,
  reclaimIntervalMs: 300,
  blockMs: 300,
  delayedPollMs: 50,
};

export interface IndexingEnvOptions {
  /** Metadata database. @default {"postgres"} */
  driver?: "postgres" | "pglite";
  /** Run a worker with every handler in this process. @default {true} */
  worker?: boolean;
  /** Use this vector store instead of a new in-process one. @default {undefined} */
  vectors?: VectorStore;
  /** Most tokens per input of the tiny model. @default {256} */
  maxTokens?: number;
  /** Extra settings. @default {{}} */
  env?: Record<string, string>;
  /** The tiny model also has an int8 graph (the CPU's default precision then). @default {false} */
  int8?: boolean;
  /** Builds the worker's handlers. @default {buildHandlers} */
  registry?: StartWorkerOptions["registry"];
}

export interface IndexingEnv {
  db: TestDb;
  redis: TestRedis;
  rt: Runtime;
  config: Config;
  vectors: VectorStore;
  models: ModelRegistry;
  modelsDir: string;
  /** A scratch directory; `docs` below it is DOCUMENT_ROOTS. */
  dir: string;
  /** DOCUMENT_ROOTS (a real path). */
  root: string;
  userId: string;
  deps: CollectionDeps;
  worker?: WorkerRuntime;
  /** Waits until the operation is terminal and returns its row. */
  waitForOperation(id: string, timeoutMs?: number): Promise<OperationRow>;
  /** Counts that must agree after an operation: chunks, vectors, completed documents. */
  counts(collectionId: string): Promise<Counts>;
}

export interface Counts {
  chunks: number;
  vectors: number;
  documents: number;
  chunkCountSum: number;
}

/** Runs `fn` with a fresh environment and always tears it down. */
export async function withIndexingEnv(
  options: IndexingEnvOptions,
  fn: (env: IndexingEnv) => Promise<void>,
): Promise<void> {
  const { driver = "postgres", worker = true, maxTokens = 256, env = {}, int8 = false } = options;
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-indexing-" }));
  const root = join(dir, "docs");
  const modelsDir = join(dir, "models");
  await Deno.mkdir(root, { recursive: true });
  await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens, int8 });
  const db = await createTestDb(driver);
  const redis = await createTestRedis();
  const cleanups: (() => Promise<void>)[] = [
    () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    () => db.cleanup(),
    () => redis.cleanup(),
  ];
  try {
    let vectors = options.vectors;
    if (!vectors) {
      if (driver === "pglite") {
        vectors = new PgvectorStore(db.db);
      } else {
        const pg = await openPglite();
        vectors = new PgvectorStore(pg, { ownsDb: true });
      }
      const own = vectors;
      cleanups.unshift(() => own.close());
    }
    const config = loadConfig({
      ...redis.env,
      REDIS_PREFIX: redis.prefix,
      DATA_DIR: join(dir, "data"),
      MODELS_DIR: modelsDir,
      DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME,
      DOCUMENT_ROOTS: root,
      EMBEDDING_DEVICE: "cpu",
      LOG_LEVEL: "warn",
      WORKER_SHUTDOWN_TIMEOUT_S: "5",
      ...env,
    }, dir);
    const models = new ModelRegistry({ modelsDir, device: "cpu" });
    cleanups.unshift(() => models.close());
    const rt = await createRuntime(config, { role: "test", db: db.db, vectors, models });
    cleanups.unshift(() => rt.close());
    const [user] = await db.db.query<{ id: string }>(
      "insert into users (id, username, password_hash) values ($1, 'tester', 'x') returning id",
      [crypto.randomUUID()],
    );
    const deps: CollectionDeps = {
      db: db.db,
      defaultEmbeddingModel: TINY_MODEL_NAME,
      documentRoots: config.documentRoots,
      models,
      resolveSourcePath,
      dispatch: (op) => dispatchOperation(rt.queues, op).then(() => {}),
      countVectors: (name) => vectors!.count(name),
      secretBox: lazySecretBox(config),
      allowPrivateNetworks: config.sourceAllowPrivateNetworks,
    };
    const w = worker
      ? await startWorker(rt, {
        overrides: { queueOptions: FAST_QUEUE },
        ...(options.registry ? { registry: options.registry } : {}),
      })
      : undefined;
    await fn({
      db,
      redis,
      rt,
      config,
      vectors,
      models,
      modelsDir,
      dir,
      root,
      userId: user!.id,
      deps,
      worker: w,
      waitForOperation: (id, timeoutMs = OPERATION_MS) => waitForOperation(db.db, id, timeoutMs),
      counts: (id) => countsOf(db.db, vectors!, id),
    });
  } finally {
    for (const c of cleanups) await c().catch((err) => console.error("cleanup failed:", err));
  }
}

export async function waitForOperation(
  db: { query: TestDb["db"]["query"] },
  id: string,
  timeoutMs = OPERATION_MS,
): Promise<OperationRow> {
  let last: OperationRow | undefined;
  return await waitFor(`operation ${id} to finish`, async () => {
    const [row] = await db.query<OperationRow>("select * from operations where id = $1", [id]);
    last = row;
    return row && ["completed", "failed", "cancelled"].includes(row.status) ? row : undefined;
  }, {
    timeoutMs,
    intervalMs: 50,
    seen: () => last && { status: last.status, progress: last.progress, message: last.message },
  });
}

export async function countsOf(
  db: { query: TestDb["db"]["query"] },
  vectors: VectorStore,
  collectionId: string,
): Promise<Counts> {
  const [r] = await db.query<{ chunks: number; documents: number; sum: number }>(
    `select (select count(*) from chunks where collection_id = $1)::int as chunks,
            (select count(*) from documents
              where collection_id = $1 and status = 'completed')::int as documents,
            (select coalesce(sum(chunk_count), 0) from documents
              where collection_id = $1 and status = 'completed')::int as sum`,
    [collectionId],
  );
  return {
    chunks: r!.chunks,
    documents: r!.documents,
    chunkCountSum: r!.sum,
    vectors: await vectors.count(`col_${collectionId.replaceAll("-", "")}`),
  };
}

/** Writes `files` (path relative to `dir` -> text) and returns `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  return dir;
}
