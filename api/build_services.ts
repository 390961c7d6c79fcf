/**
 * Wires the HTTP layer's services to a process runtime: collection functions with the model
 * registry, source-path checks and job dispatch; search with local or worker-side query
 * embedding; cancel/retry; dead letters; readiness; metrics.
 */
import { Counter, Gauge } from "prom-client";
import {
  AppError,
  cancelOperation,
  type CollectionDeps,
  currentLogFields,
  dispatchOperation,
  type embedBatchPayload,
  generateEmbeddingsBatchTask,
  RateLimiter,
  ReplyClient,
  resolveJwtSecret,
  resolveSourcePath,
  retryOperation,
  type Runtime,
  search,
} from "@semantik/shared";
import type { ApiServices, DeadLetterJson, ReadinessReport } from "./services.ts";
import { WsGateway, type WsGatewayOptions } from "./ws/ws_gateway.ts";

/** Options of {@link buildServices}. */
export interface BuildServicesOptions {
  /** Longest wait for a query embedding from a worker (`EMBED_QUERIES=worker`), in ms. @default {30000} */
  embedTimeoutMs?: number;
  /** WebSocket settings (limits, keepalive, hub). @default {WsGateway's defaults} */
  ws?: WsGatewayOptions;
}

export async function buildServices(
  rt: Runtime,
  options: BuildServicesOptions = {},
): Promise<ApiServices> {
  const { config, db, log } = rt;
  const jwtSecret = await resolveJwtSecret(config, log);

  const collections: CollectionDeps = {
    db,
    defaultEmbeddingModel: config.defaultEmbeddingModel,
    documentRoots: config.documentRoots,
    models: rt.models,
    resolveSourcePath,
    // Inside a request, the job carries the request's id (set by the request-context middleware).
    dispatch: (op) =>
      dispatchOperation(rt.queues, op, {
        requestId: currentLogFields().request_id as string | undefined,
      }).then(() => {}),
    countVectors: (name) => rt.vectors.count(name),
    log,
  };

  let replies: ReplyClient | undefined;
  const embedQuery = async (model: string, text: string) => {
    if (config.embedQueries === "worker") {
      replies ??= new ReplyClient(rt.queues, rt.keys, () => rt.redisFactory("replies", true), log, {
        timeoutMs: options.embedTimeoutMs ?? 30_000,
      });
      const res = await replies.request<
        typeof embedBatchPayload,
        { vectors: number[][] }
      >(
        generateEmbeddingsBatchTask,
        { texts: [text], model, mode: "query" },
      );
      return res.vectors[0]!;
    }
    const embedder = await rt.models.get(model);
    const [vector] = await embedder.embedTexts([text], "query");
    return vector!;
  };
  rt.onClose(async () => {
    await replies?.close();
  });

  // The runtime's registry: under `deno task dev` the worker's and scheduler's metrics are in it too.
  const metrics = rt.metrics;
  new Gauge({
    name: "semantik_queue_jobs",
    help: "Jobs by queue and state (waiting, active, delayed, dead)",
    labelNames: ["queue", "state"] as const,
    registers: [metrics],
    async collect() {
      try {
        const all = await rt.queues.depth();
        for (const [queue, d] of Object.entries(all)) {
          for (const [state, n] of Object.entries(d)) this.set({ queue, state }, Number(n));
        }
      } catch (err) {
        log.debug("cannot read queue depth for metrics", { err });
      }
    },
  });
  // A counter: the totals only grow (kept in Redis, so every API process reports the same ones).
  new Counter({
    name: "semantik_queue_jobs_total",
    help: "Jobs counted since the queue was created, by queue and event",
    labelNames: ["queue", "event"] as const,
    registers: [metrics],
    async collect() {
      try {
        const all = await rt.queues.totals();
        this.reset();
        for (const [queue, t] of Object.entries(all)) {
          for (const [event, n] of Object.entries(t)) this.inc({ queue, event }, Number(n));
        }
      } catch (err) {
        log.debug("cannot read queue totals for metrics", { err });
      }
    },
  });

  // An operation's job id is the operation id: a dead job is the caller's when its id names one
  // of the caller's operations. Other dead jobs (embedding batches, maintenance) are nobody's.
  const ownedOperations = async (userId: string, ids: string[]) =>
    ids.length === 0 ? new Set<string>() : new Set(
      (await db.query<{ id: string }>(
        "select id from operations where owner_id = $1 and id = any($2::uuid[])",
        [userId, ids.filter((id) => UUID.test(id))],
      )).map((r) => r.id),
    );

  const deadLetters: ApiServices["deadLetters"] = {
    async list(userId, limit) {
      const jobs = await rt.queues.listDeadLetters({ limit: 1000 });
      const owned = await ownedOperations(userId, jobs.map((j) => j.id));
      return jobs.filter((j) => owned.has(j.id)).slice(0, limit).map((j): DeadLetterJson => ({
        id: j.id,
        task: j.name,
        queue: j.queue,
        operation_id: j.id,
        attempts: j.attempts,
        error: j.error,
        failed_at: new Date(j.failedAt).toISOString(),
      }));
    },
    async requeue(userId, id) {
      const job = (await rt.queues.listDeadLetters({ limit: 1000 })).find((j) => j.id === id);
      const [row] = job && UUID.test(id)
        ? await db.query<{ owner_id: string }>("select owner_id from operations where id = $1", [
          id,
        ])
        : [];
      if (!job || !row) throw new AppError("not_found", `No dead letter with id ${id}`);
      if (row.owner_id !== userId) {
        throw new AppError("forbidden", `Dead letter ${id} belongs to another user`);
      }
      // The operation failed with its job; it becomes pending again so the job can run it.
      const [reopened] = await db.query<{ id: string }>(
        `update operations set status = 'pending', error_message = null, completed_at = null,
                cancel_requested_at = null, message = 'Requeued', updated_at = now()
          where id = $1 and status = 'failed'
            and not exists (select 1 from operations o where o.collection_id = operations.collection_id
                              and o.id <> operations.id and o.status in ('pending', 'processing'))
          returning id`,
        [id],
      );
      if (!reopened) {
        throw new AppError(
          "conflict",
          `Cannot requeue ${id}: its operation is not failed, or its collection is busy`,
        );
      }
      // An operation's job is rebuilt from its operation id, whatever the dead job kept.
      if (!(await rt.queues.requeueDeadLetter(id, job.queue, { payload: { operation_id: id } }))) {
        throw new AppError("conflict", `Dead letter ${id} was requeued or removed meanwhile`);
      }
    },
  };

  async function readiness(): Promise<ReadinessReport> {
    const check = async (fn: () => Promise<void>): Promise<{ ok: boolean; reason?: string }> => {
      try {
        await withTimeout(fn(), 3000);
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: err instanceof Error ? err.message : String(err) };
      }
    };
    const [database, redis, vectors] = await Promise.all([
      check(async () => {
        await db.query("select 1");
      }),
      check(async () => {
        if ((await rt.redis.ping()) !== "PONG") throw new Error("Redis did not answer PING");
      }),
      check(async () => {
        const r = await rt.vectors.ready();
        if (!r.ok) throw new Error(r.reason);
      }),
    ]);
    const checks = { database, redis, vector_store: vectors };
    return { ok: database.ok && redis.ok && vectors.ok, checks };
  }

  const ws = new WsGateway({
    db,
    redis: rt.redis,
    openReader: () => rt.redisFactory("hub", true),
    keys: rt.events.keys,
    jwtSecret,
    log: log.child({}, "ws"),
    metrics,
  }, options.ws);
  rt.onClose(() => ws.close());

  return {
    rt,
    jwtSecret,
    collections,
    loginLimits: {
      perUser: new RateLimiter(rt.redis, rt.keys.key("ratelimit", "login", ""), {
        limit: 10,
        windowSeconds: 900,
      }),
      perAddress: new RateLimiter(rt.redis, rt.keys.key("ratelimit", "login", ""), {
        limit: 50,
        windowSeconds: 900,
      }),
    },
    operations: {
      cancel: (userId, id) => cancelOperation(rt, userId, id),
      retry: (userId, id) => retryOperation(collections, userId, id),
    },
    search: (userId, request) =>
      search(
        {
          db,
          vectors: rt.vectors,
          defaultEmbeddingModel: config.defaultEmbeddingModel,
          embedQuery,
        },
        userId,
        request,
      ),
    deadLetters,
    readiness,
    metrics,
    ws,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
