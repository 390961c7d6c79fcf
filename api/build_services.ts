/**
 * Wires the HTTP layer's services to a process runtime: collection functions with the model
 * registry, source-path checks and job dispatch; search with local or worker-side query
 * embedding; cancel/retry; dead letters; readiness; metrics.
 */
import { Counter, Gauge } from "prom-client";
import {
  checkWithin,
  CrossEncoder,
  currentLogFields,
  dispatchOperation,
  type embedBatchPayload,
  generateEmbeddingsBatchTask,
  lazySecretBox,
  ReplyClient,
  type rerankBatchPayload,
  rerankBatchTask,
  resolveSecretsKey,
  resolveSourcePath,
  type Runtime,
  SecretBox,
} from "@semantik/shared";
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  type WebhookDeps,
} from "./webhooks/webhooks.ts";
import { RateLimiter } from "./auth/rate_limiter.ts";
import { TokenAuthenticator } from "./auth/token_authenticator.ts";
import { resolveJwtSecret } from "./auth/tokens.ts";
import type { CollectionDeps } from "./collections/collections.ts";
import {
  cancelMatchingOperations,
  cancelOperation,
  retryOperation,
} from "./operations/operation_controls.ts";
import { search } from "./search/search.ts";
import type { ApiServices, ReadinessReport } from "./services.ts";
import { listDeadLetters, requeueDeadLetter } from "./dead_letters/dead_letters.ts";
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
    maxFileSizeBytes: config.maxFileSizeBytes,
    models: rt.models,
    resolveSourcePath,
    secretBox: lazySecretBox(config, log),
    allowPrivateNetworks: config.sourceAllowPrivateNetworks,
    // Inside a request, the job carries the request's id (set by the request-context middleware).
    dispatch: (op) =>
      dispatchOperation(rt.queues, op, {
        requestId: currentLogFields().request_id as string | undefined,
      }).then(() => {}),
    countVectors: (name) => rt.vectors.count(name),
    log,
  };

  let replies: ReplyClient | undefined;
  const embedQuery = async (
    model: string,
    text: string,
    precision?: "fp32" | "fp16" | "int8" | null,
  ) => {
    if (config.embedQueries === "worker") {
      replies ??= new ReplyClient(rt.queues, rt.keys, () => rt.redisFactory("replies", true), log, {
        timeoutMs: options.embedTimeoutMs ?? 30_000,
      });
      const res = await replies.request<
        typeof embedBatchPayload,
        { vectors: number[][] }
      >(
        generateEmbeddingsBatchTask,
        { texts: [text], model, mode: "query", ...(precision ? { precision } : {}) },
      );
      return res.vectors[0]!;
    }
    const embedder = await rt.models.get(model, precision ? { precision } : {});
    const [vector] = await embedder.embedTexts([text], "query");
    return vector!;
  };
  // The cross-encoder (RERANK_MODEL), where queries are embedded: in this process, loaded on
  // first use, or on a worker through request/reply.
  let reranker: Promise<CrossEncoder> | undefined;
  const rerank = config.rerankModel === undefined ? undefined : async (
    query: string,
    passages: string[],
  ): Promise<number[]> => {
    if (config.embedQueries === "worker") {
      replies ??= new ReplyClient(rt.queues, rt.keys, () => rt.redisFactory("replies", true), log, {
        timeoutMs: options.embedTimeoutMs ?? 30_000,
      });
      const res = await replies.request<typeof rerankBatchPayload, { scores: number[] }>(
        rerankBatchTask,
        { query, passages },
      );
      return res.scores;
    }
    reranker ??= CrossEncoder.load(config.rerankModel!).catch((err) => {
      reranker = undefined;
      throw err;
    });
    return await (await reranker).score(query, passages);
  };
  rt.onClose(async () => {
    await replies?.close();
    await (await reranker?.catch(() => undefined))?.close();
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

  const deadLetterDeps = { db, queues: rt.queues, events: rt.events, log };
  const deadLetters: ApiServices["deadLetters"] = {
    list: (userId, limit) => listDeadLetters(deadLetterDeps, { userId, limit }),
    requeue: (userId, id) => requeueDeadLetter(deadLetterDeps, { userId, id }),
  };

  let secrets: Promise<SecretBox> | undefined;
  const webhookDeps: WebhookDeps = {
    db,
    // Resolved on first use, so a deployment without webhooks needs no SECRETS_KEY.
    secrets: () => secrets ??= resolveSecretsKey(config, log).then((k) => SecretBox.fromKey(k)),
    allowPrivate: config.webhookAllowPrivate,
    log,
  };
  const webhooks: ApiServices["webhooks"] = {
    create: (userId, input) => createWebhook(webhookDeps, { userId, input }),
    list: (userId) => listWebhooks(webhookDeps, userId),
    remove: (userId, id) => deleteWebhook(webhookDeps, { userId, webhookId: id }),
    deliveries: (userId, o) => listWebhookDeliveries(webhookDeps, userId, o),
  };

  async function readiness(): Promise<ReadinessReport> {
    const check = (fn: () => Promise<void>) => checkWithin(fn, 3000);
    const replica = rt.readPool?.probe();
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
    const checks: ReadinessReport["checks"] = { database, redis, vector_store: vectors };
    // The read replica is reported, not required: search falls back to the primary without it.
    if (replica) checks.database_replica = await replica;
    return { ok: database.ok && redis.ok && vectors.ok, checks };
  }

  const tokens = new TokenAuthenticator(db, jwtSecret);
  const ws = new WsGateway({
    db,
    redis: rt.redis,
    openReader: () => rt.redisFactory("hub", true),
    keys: rt.events.keys,
    jwtSecret,
    tokens,
    log: log.child({}, "ws"),
    metrics,
  }, options.ws);
  rt.onClose(() => ws.close());

  return {
    rt,
    jwtSecret,
    collections,
    tokens,
    loginLimits: {
      limiter: new RateLimiter(rt.redis, rt.keys.key("ratelimit", "login", ""), {
        windowSeconds: 900,
      }),
      perNameAndAddress: 10,
      perAddress: 50,
    },
    operations: {
      cancel: (userId, id) => cancelOperation(rt, { userId, operationId: id }),
      cancelMatching: (userId, filter) => cancelMatchingOperations(rt, { userId, filter }),
      retry: (userId, id) => retryOperation(collections, { userId, operationId: id }),
    },
    search: (userId, request) =>
      search({
        // DATABASE_READ_URL: the replica (falling back to the primary), else the primary.
        db: rt.readDb,
        primary: rt.readPool ? db : undefined,
        vectors: rt.vectors,
        defaultEmbeddingModel: config.defaultEmbeddingModel,
        embedQuery,
        rerank,
      }, { userId, request }),
    deadLetters,
    webhooks,
    readiness,
    metrics,
    ws,
  };
}
