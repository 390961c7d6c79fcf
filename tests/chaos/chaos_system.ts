/**
 * The whole system as separate processes, for the chaos scenarios: a private Postgres and a
 * private Redis (both restartable), a shared vector store (pgvector on a `pglite-server`, or the
 * Qdrant fake behind a proxy that can fail one collection's upserts), the API (`api/main.ts`),
 * two or more workers (`worker/main.ts`) and the scheduler (`scheduler/main.ts`), each started
 * exactly as a deployment starts them, configured through the environment only. The test talks
 * to the API over HTTP and WebSockets and reads Postgres, Redis and the vector store directly to
 * count what was written.
 *
 * Settings that make the scenarios quick without changing what happens: the tiny test model
 * (`test/tiny-bert`, 32 dimensions), a job lease of a few seconds (`WORKER_LEASE_S`) so a killed
 * worker's job is taken over soon, and a short reconcile grace (`RECONCILE_GRACE_S`). The
 * scheduler runs on its real schedule (reconcile every minute).
 */
import { join } from "node:path";
import type { Redis } from "ioredis";
import { createRedis, KeySpace } from "../../shared/redis/redis.ts";
import { EventKeys } from "../../shared/events/event_keys.ts";
import { type RedisTarget, redisTargetEnv } from "../../shared/redis/redis_target.ts";
import { connectPostgres } from "../../shared/db/postgres_driver.ts";
import type { Db } from "../../shared/db/db.ts";
import { QueueClient } from "../../shared/queue/queue_client.ts";
import type { OperationRow } from "../../shared/operations/operation_types.ts";
import { PgvectorStore } from "../../shared/vector/pgvector_store.ts";
import { QdrantStore } from "../../shared/vector/qdrant_store.ts";
import type { VectorStore } from "../../shared/vector/vector_store.ts";
import { TINY_MODEL_NAME, writeTinyModel } from "../../shared/embedding/testing.ts";
import { waitFor } from "../../shared/testing/wait.ts";
import { type PgliteServer, startPgliteServer } from "../helpers/pglite_server.ts";
import { type Proc, spawnDeno } from "../helpers/process.ts";
import { type QdrantFake, startQdrantFake } from "../fakes/qdrant_fake.ts";
import { type FailingQdrantProxy, startFailingQdrantProxy } from "./failing_qdrant_proxy.ts";
import {
  type PrivatePostgres,
  startPrivatePostgres,
} from "../../shared/testing/private_postgres.ts";
import { RestartableRedis } from "./restartable_redis.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const API_MAIN = join(ROOT, "api/main.ts");
const WORKER_MAIN = join(ROOT, "worker/main.ts");
const SCHEDULER_MAIN = join(ROOT, "scheduler/main.ts");
const PREFIX = "semantik:";
export const JWT_SECRET = "chaos-secret-".padEnd(48, "x");

/** Options of {@link startChaosSystem}. */
export interface ChaosSystemOptions {
  /** `pgvector` on a shared pglite-server, or `qdrant` (the fake, behind a failing proxy). @default {"pgvector"} */
  vectorStore?: "pgvector" | "qdrant";
  /** Worker processes started with the system. @default {2} */
  workers?: number;
  /** Start the scheduler. @default {true} */
  scheduler?: boolean;
  /** `WORKER_LEASE_S` of every worker. @default {5} */
  leaseSeconds?: number;
  /** `WORKER_SHUTDOWN_TIMEOUT_S` of every worker. @default {5} */
  shutdownTimeoutSeconds?: number;
  /** `RECONCILE_GRACE_S`. @default {3} */
  reconcileGraceSeconds?: number;
  /** More settings for every process. @default {{}} */
  env?: Record<string, string>;
  /**
   * A Redis topology the scenario started (a cluster, a Sentinel setup) instead of the private
   * restartable node: every process gets its settings (`REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`),
   * and the scenario stops it. @default {a private {@link RestartableRedis}}
   */
  redisTarget?: RedisTarget;
}

/** A worker process of the system. */
export interface ChaosWorker {
  /** `w1`, `w2`, ... in start order. */
  name: string;
  proc: Proc;
  /** Its consumer name in the queue (`<hostname>:<pid>`). */
  consumer: string;
  /** Set once the process has exited. */
  exit?: Deno.CommandStatus;
}

/** A user of the API. */
export interface ChaosUser {
  id: string;
  username: string;
  token: string;
}

/** An HTTP answer of the API. */
export interface ApiAnswer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** What the stores hold for one collection. */
export interface CollectionCounts {
  /** Documents by status. */
  documents: Record<string, number>;
  /** Chunk rows in Postgres. */
  chunks: number;
  /** Sum of the completed documents' `chunk_count`. */
  chunkCountSum: number;
  /** Points in the vector store, counted there. */
  vectors: number;
}

export class ChaosSystem {
  readonly dir: string;
  /** The source directory tree; DOCUMENT_ROOTS. */
  readonly docs: string;
  readonly modelsDir: string;
  readonly pg: PrivatePostgres;
  /** The private node, unless the scenario brought its own topology (`redisTarget`). */
  readonly redis: RestartableRedis | undefined;
  /** The test's own connections. */
  readonly db: Db;
  readonly redisClient: Redis;
  readonly queues: QueueClient;
  readonly vectors: VectorStore;
  readonly vectorStore: "pgvector" | "qdrant";
  readonly pgliteServer: PgliteServer | undefined;
  readonly qdrant: { fake: QdrantFake; proxy: FailingQdrantProxy } | undefined;
  readonly env: Record<string, string>;
  readonly workers: ChaosWorker[] = [];
  api!: Proc;
  apiUrl = "";
  /** API processes started after the first ({@link startOtherApi}). */
  readonly otherApis: { proc: Proc; url: string }[] = [];
  scheduler: Proc | undefined;
  #workerSeq = 0;
  readonly #cleanups: (() => Promise<void>)[];

  private constructor(init: {
    dir: string;
    docs: string;
    modelsDir: string;
    pg: PrivatePostgres;
    redis: RestartableRedis | undefined;
    db: Db;
    redisClient: Redis;
    vectors: VectorStore;
    vectorStore: "pgvector" | "qdrant";
    pgliteServer?: PgliteServer;
    qdrant?: { fake: QdrantFake; proxy: FailingQdrantProxy };
    env: Record<string, string>;
    cleanups: (() => Promise<void>)[];
  }) {
    this.dir = init.dir;
    this.docs = init.docs;
    this.modelsDir = init.modelsDir;
    this.pg = init.pg;
    this.redis = init.redis;
    this.db = init.db;
    this.redisClient = init.redisClient;
    this.queues = new QueueClient(init.redisClient, { prefix: PREFIX });
    this.vectors = init.vectors;
    this.vectorStore = init.vectorStore;
    this.pgliteServer = init.pgliteServer;
    this.qdrant = init.qdrant;
    this.env = init.env;
    this.#cleanups = init.cleanups;
  }

  /** Starts every service and process; on failure stops what it started. */
  static async start(options: ChaosSystemOptions = {}): Promise<ChaosSystem> {
    const {
      vectorStore = "pgvector",
      workers = 2,
      scheduler = true,
      leaseSeconds = 5,
      shutdownTimeoutSeconds = 5,
      reconcileGraceSeconds = 3,
    } = options;
    const cleanups: (() => Promise<void>)[] = [];
    const undo = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
    };
    try {
      const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-chaos-" }));
      cleanups.push(() => Deno.remove(dir, { recursive: true }));
      const docs = join(dir, "docs");
      const modelsDir = join(dir, "models");
      await Deno.mkdir(docs);
      // 256 positions like the default model, so the default chunk size fits.
      await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });

      const [pg, redis] = await Promise.all([
        startPrivatePostgres(),
        options.redisTarget ? undefined : RestartableRedis.start(),
      ]);
      cleanups.push(() => pg.stop(), async () => await redis?.stop());
      const db = connectPostgres(pg.url, { max: 3, applicationName: "chaos-test" });
      cleanups.push(() => db.close());
      const redisTarget: RedisTarget = options.redisTarget ??
        { mode: "single", url: redis!.url, tls: false };
      const redisClient = createRedis(redisTarget, {
        name: "chaos",
        maxRetriesPerRequest: null,
      });
      // Restarts are the point here: the client reconnects by itself.
      redisClient.on("error", () => {});
      cleanups.push(() => Promise.resolve(redisClient.disconnect()));

      const env: Record<string, string> = {
        ENVIRONMENT: "development",
        DATABASE_URL: pg.url,
        // Whatever the surrounding environment says (a cluster run's settings included), these
        // processes use the Redis above.
        REDIS_CLUSTER_NODES: "",
        REDIS_SENTINELS: "",
        REDIS_SENTINEL_NAME: "",
        ...redisTargetEnv(redisTarget),
        REDIS_PREFIX: PREFIX,
        DATA_DIR: join(dir, "data"),
        MODELS_DIR: modelsDir,
        DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME,
        EMBEDDING_DEVICE: "cpu",
        DOCUMENT_ROOTS: docs,
        JWT_SECRET,
        METRICS_PORT: "0",
        LOG_LEVEL: "info",
        WORKER_LEASE_S: String(leaseSeconds),
        WORKER_SHUTDOWN_TIMEOUT_S: String(shutdownTimeoutSeconds),
        RECONCILE_GRACE_S: String(reconcileGraceSeconds),
        VECTOR_STORE: vectorStore,
        // Whatever the surrounding environment says, these processes use the stores above.
        QDRANT_URL: "",
        QDRANT_API_KEY: "",
        VECTOR_DATABASE_URL: "",
      };
      let vectors: VectorStore;
      let pgliteServer: PgliteServer | undefined;
      let qdrant: { fake: QdrantFake; proxy: FailingQdrantProxy } | undefined;
      if (vectorStore === "pgvector") {
        pgliteServer = await startPgliteServer();
        cleanups.push(() => pgliteServer!.stop());
        env.VECTOR_DATABASE_URL = pgliteServer.url;
        vectors = new PgvectorStore(connectPostgres(pgliteServer.url, { max: 1 }), {
          ownsDb: true,
        });
      } else {
        const fake = await startQdrantFake();
        cleanups.push(() => fake.close());
        const proxy = startFailingQdrantProxy({ target: fake.url });
        cleanups.push(() => proxy.close());
        qdrant = { fake, proxy };
        env.QDRANT_URL = proxy.url;
        vectors = new QdrantStore({ url: fake.url });
      }
      cleanups.push(() => vectors.close());
      Object.assign(env, options.env);

      const system = new ChaosSystem({
        dir,
        docs,
        modelsDir,
        pg,
        redis,
        db,
        redisClient,
        vectors,
        vectorStore,
        pgliteServer,
        qdrant,
        env,
        cleanups,
      });
      // The API migrates the database before the workers start (they would wait on its lock).
      await system.startApi();
      await Promise.all(Array.from({ length: workers }, () => system.startWorker()));
      if (scheduler) await system.startScheduler();
      return system;
    } catch (err) {
      await undo();
      throw err;
    }
  }

  /** `ws://host:port` of the API. */
  get wsUrl(): string {
    return this.apiUrl.replace(/^http/, "ws");
  }

  /** Starts the API process and waits until it listens. */
  async startApi(): Promise<void> {
    const { proc, url } = await this.#spawnApi();
    this.api = proc;
    this.apiUrl = url;
  }

  /**
   * Starts one more API process (same settings, its own port and hub) and returns its
   * `ws://host:port`: any API process serves any client.
   */
  async startOtherApi(): Promise<string> {
    const api = await this.#spawnApi();
    this.otherApis.push(api);
    return api.url.replace(/^http/, "ws");
  }

  async #spawnApi(): Promise<{ proc: Proc; url: string }> {
    const proc = spawnDeno(API_MAIN, { env: { ...this.env, PORT: "0" } });
    this.#cleanups.push(async () => void (await proc.stop("SIGKILL")));
    const [, url] = await proc.waitForLine(/api listening url=(\S+)/, 180_000);
    return { proc, url: url! };
  }

  /** Starts a worker process and waits until it reads jobs. */
  async startWorker(env: Record<string, string> = {}): Promise<ChaosWorker> {
    const name = `w${++this.#workerSeq}`;
    const proc = spawnDeno(WORKER_MAIN, { env: { ...this.env, ...env } });
    const worker: ChaosWorker = { name, proc, consumer: `${Deno.hostname()}:${proc.child.pid}` };
    proc.status.then((s) => (worker.exit = s));
    this.workers.push(worker);
    this.#cleanups.push(async () => void (await proc.stop("SIGKILL")));
    await proc.waitForLine(/worker started/, 180_000);
    // Ready once its queue consumers read: the liveness beat follows the first reads.
    await waitFor(
      `worker ${name} to beat`,
      async () =>
        (await this.redisClient.zscore(`${PREFIX}{workers}:alive`, worker.consumer)) !== null,
      {
        timeoutMs: 120_000,
        intervalMs: 50,
      },
    );
    return worker;
  }

  /** Starts the scheduler process. */
  async startScheduler(): Promise<void> {
    const scheduler = spawnDeno(SCHEDULER_MAIN, { env: this.env });
    this.scheduler = scheduler;
    this.#cleanups.push(async () => void (await scheduler.stop("SIGKILL")));
    await scheduler.waitForLine(/scheduler started/, 180_000);
  }

  /** Workers whose process still runs. */
  get liveWorkers(): ChaosWorker[] {
    return this.workers.filter((w) => w.exit === undefined);
  }

  /** The worker holding job `jobId` now (its consumer has the entry), if any. */
  async holderOf(jobId: string): Promise<ChaosWorker | undefined> {
    const job = await this.queues.getJob(jobId);
    if (!job?.consumer || job.state !== "active") return undefined;
    return this.workers.find((w) => w.consumer === job.consumer);
  }

  /** Waits until a live worker other than those in `not` holds job `jobId`; returns it. */
  async waitForHolder(jobId: string, not: ChaosWorker[] = []): Promise<ChaosWorker> {
    return await waitFor(`a worker to hold job ${jobId}`, async () => {
      const w = await this.holderOf(jobId);
      return w && w.exit === undefined && !not.includes(w) ? w : undefined;
    }, { timeoutMs: 180_000, intervalMs: 50 });
  }

  /** Calls the API; network failures (the API restarting) are answered as status 0. */
  async call(
    method: string,
    path: string,
    options: { token?: string; body?: unknown } = {},
  ): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    try {
      const res = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch { /* not JSON */ }
      return { status: res.status, body };
    } catch (err) {
      return { status: 0, body: String(err) };
    }
  }

  /** Registers a user and logs in. */
  async user(username = `u_${crypto.randomUUID().slice(0, 8)}`): Promise<ChaosUser> {
    const password = `pw-${username}-chaos`;
    const reg = await this.call("POST", "/api/auth/register", { body: { username, password } });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    const login = await this.call("POST", "/api/auth/login", { body: { username, password } });
    if (login.status !== 200) {
      throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
    }
    return { id: reg.body.user.id, username, token: login.body.access_token };
  }

  /** The operation's row, read from Postgres. */
  async operation(id: string): Promise<OperationRow> {
    const [row] = await this.db.query<OperationRow>("select * from operations where id = $1", [
      id,
    ]);
    if (!row) throw new Error(`No operation ${id}`);
    return row;
  }

  /**
   * The operation's last published event, read from its stream: the id every follower must end
   * on. Not the row's `event_seq`: that counts reservations, and a write whose publish was refused
   * as stale (a slower writer's older state) or never made (its process died) takes one but gives
   * no id, so `event_seq` may run ahead of the last id.
   */
  async lastPublishedEvent(id: string): Promise<{ id: number; type: string }> {
    const keys = new EventKeys(new KeySpace(PREFIX));
    const [entry] = await this.redisClient.xrevrange(keys.stream(id), "+", "-", "COUNT", 1);
    if (!entry) throw new Error(`Operation ${id} has no event stream`);
    const fields = entry[1];
    const data = fields[fields.indexOf("data") + 1];
    return { id: Number(entry[0].split("-")[0]), type: String(JSON.parse(data ?? "{}").type) };
  }

  /** Waits until the operation is finished and returns its row. */
  async waitForOperation(id: string, timeoutMs = 300_000): Promise<OperationRow> {
    return await waitFor(`operation ${id} to finish`, async () => {
      const row = await this.operation(id).catch(() => undefined);
      return row && ["completed", "failed", "cancelled"].includes(row.status) ? row : undefined;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** Documents completed in the collection so far. */
  async completedDocuments(collectionId: string): Promise<number> {
    const [r] = await this.db.query<{ n: number }>(
      "select count(*)::int as n from documents where collection_id = $1 and status = 'completed'",
      [collectionId],
    );
    return r!.n;
  }

  /** Counts documents by status, chunk rows and points of a collection. */
  async counts(collectionId: string): Promise<CollectionCounts> {
    const docs = await this.db.query<{ status: string; n: number }>(
      "select status, count(*)::int as n from documents where collection_id = $1 group by status",
      [collectionId],
    );
    const [r] = await this.db.query<{ chunks: number; sum: number }>(
      `select (select count(*) from chunks where collection_id = $1)::int as chunks,
              (select coalesce(sum(chunk_count), 0) from documents
                where collection_id = $1 and status = 'completed')::int as sum`,
      [collectionId],
    );
    return {
      documents: Object.fromEntries(docs.map((d) => [d.status, d.n])),
      chunks: r!.chunks,
      chunkCountSum: r!.sum,
      vectors: await this.vectors.count(`col_${collectionId.replaceAll("-", "")}`),
    };
  }

  /**
   * Point ids in the vector store against chunk row ids in Postgres, both sorted: equal lists
   * mean one point per chunk row, no strays and no duplicates. (Qdrant: the chunk ids found by
   * a retrieve, checked against the collection's own count, since the fake has no scroll.)
   */
  async pointsAndChunks(collectionId: string): Promise<{ points: string[]; chunks: string[] }> {
    const chunks = (await this.db.query<{ id: string }>(
      "select id::text as id from chunks where collection_id = $1 order by id",
      [collectionId],
    )).map((c) => c.id);
    const alias = `col_${collectionId.replaceAll("-", "")}`;
    if (this.pgliteServer) {
      const physical = await this.vectors.resolveAlias(alias);
      const vdb = connectPostgres(this.pgliteServer.url, { max: 1 });
      try {
        const points = await vdb.query<{ id: string }>(
          `select id::text as id from vec_${physical} order by id`,
        );
        return { points: points.map((p) => p.id), chunks };
      } finally {
        await vdb.close();
      }
    }
    const found: string[] = [];
    for (let i = 0; i < chunks.length; i += 1000) {
      const res = await fetch(`${this.qdrant!.fake.url}/collections/${alias}/points`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          ids: chunks.slice(i, i + 1000),
          with_payload: false,
          with_vector: false,
        }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`retrieve from ${alias}: ${res.status} ${JSON.stringify(body)}`);
      for (const p of body.result) found.push(String(p.id));
    }
    const total = await this.vectors.count(alias);
    // Points that are no chunk's show up as the difference between the count and what was found.
    for (let i = found.length; i < total; i++) found.push(`(a point no chunk row has #${i})`);
    return { points: found.sort(), chunks };
  }

  /** Every process's output, for a failure message. */
  dump(lastLines = 60): string {
    const procs: [string, Proc | undefined][] = [
      ["api", this.api],
      ...this.otherApis.map((a, i) => [`api${i + 2}`, a.proc] as [string, Proc]),
      ...this.workers.map((w) => [w.name, w.proc] as [string, Proc]),
      ["scheduler", this.scheduler],
    ];
    return procs.filter(([, p]) => p).map(([n, p]) =>
      `--- ${n} ---\n${p!.lines.slice(-lastLines).join("\n")}`
    ).join("\n");
  }

  /** Stops every process and service, removes every file. */
  async close(): Promise<void> {
    for (const c of this.#cleanups.reverse()) {
      await c().catch((err) => console.error("chaos cleanup failed:", err));
    }
  }
}

/** Starts the system (see {@link ChaosSystem.start}). */
export function startChaosSystem(options: ChaosSystemOptions = {}): Promise<ChaosSystem> {
  return ChaosSystem.start(options);
}
