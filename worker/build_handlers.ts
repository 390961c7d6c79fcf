/**
 * The worker's one table of task handlers. The runtime calls {@link buildHandlers} once at start
 * with the process's resources; each handler's task names its queue, and the runtime serves those
 * of `WORKER_QUEUES`. A new task is one entry here (see docs/EXTENDING.md); the runtime itself
 * never changes.
 *
 * Operation tasks run through `operationTaskHandler` (load, mark processing, run, complete or
 * fail the operation); their work is a call into `worker/indexing` or `worker/maintenance`.
 */
import {
  AppError,
  checkContinuousSyncTask,
  cleanupOperationsTask,
  CrossEncoder,
  deleteCollectionTask,
  deliverWebhookTask,
  errorMessage,
  generateEmbeddingsBatchTask,
  lazySecretBox,
  processSourceTask,
  reconcileTask,
  reindexTask,
  removeSourceTask,
  replying,
  rerankBatchTask,
  resolveSecretsKey,
  SecretBox,
  sweepWebhookDeliveriesTask,
  syncCollectionTask,
  type TaskDefinition,
  type TaskHandler,
  taskHandler,
  webhookOutboxFor,
} from "@semantik/shared";
import { z } from "zod";
import {
  backfillLexical,
  deleteCollectionData,
  type IndexingDeps,
  indexSources,
  isLexicalOnly,
  isPermanentFailure,
  reindexCollectionData,
  removeSourceData,
  type SourceDeps,
  syncCollectionData,
} from "./indexing/mod.ts";
import {
  checkContinuousSync,
  cleanupOperations,
  reconcileOperations,
  startLexicalBackfills,
} from "./maintenance/mod.ts";
import { operationTaskHandler, type OperationWork } from "./operation_task.ts";
import { liveWorkers } from "./liveness.ts";
import { deliverWebhook, failWebhookDelivery } from "./webhooks/deliver_webhook.ts";
import type { WorkerContext } from "./worker_context.ts";

/** docs/API.md's counts that every operation's completion metadata carries. */
const BASE_COUNTS = {
  documents_total: 0,
  documents_processed: 0,
  documents_failed: 0,
  documents_skipped: 0,
  chunks_created: 0,
} as const;

const sourceConfig = z.object({ source_id: z.uuid() });
/** An `index` operation that retries documents (`POST .../documents/{id}/retry`). */
const retryConfig = z.object({ document_ids: z.array(z.uuid()).min(1) });

/**
 * Runs `work`; a permanent failure (see {@link isPermanentFailure}) fails the operation through
 * `ctx` and resolves undefined, anything else is thrown for the queue to retry.
 */
async function failingPermanently<T>(
  ctx: { fail(error: unknown): Promise<boolean> },
  work: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (!isPermanentFailure(err)) throw err;
    await ctx.fail(err);
    return undefined;
  }
}

/** Options of {@link buildHandlers}. */
export interface BuildHandlersOptions {
  /** Overrides of what Git and web sources get (tests: git's CA file, a short crawl delay). */
  sources?: Partial<SourceDeps>;
}

/** The handlers of every task this codebase defines. */
export function buildHandlers(
  ctx: WorkerContext,
  options: BuildHandlersOptions = {},
): TaskHandler[] {
  const rt = ctx.runtime;
  const indexing: IndexingDeps = {
    db: rt.db,
    vectors: rt.vectors,
    models: rt.models,
    documentRoots: rt.config.documentRoots,
    maxFileSizeBytes: rt.config.maxFileSizeBytes,
    gate: ctx.embeddingSemaphore,
    log: rt.log,
    sources: {
      dataDir: rt.config.dataDir,
      allowPrivateNetworks: rt.config.sourceAllowPrivateNetworks,
      secretBox: lazySecretBox(rt.config, rt.log),
      ...options.sources,
    },
  };
  const webhooks = webhookOutboxFor({
    db: rt.db,
    queues: ctx.queues,
    log: rt.log,
    config: rt.config,
  });
  const operation = <S extends z.ZodType<{ operation_id: string }>>(
    task: TaskDefinition<S>,
    work: OperationWork,
  ) =>
    operationTaskHandler(task, {
      work,
      deps: { db: rt.db, events: rt.events, log: rt.log, webhooks },
    });
  let secrets: Promise<SecretBox> | undefined;
  const openSecrets = () =>
    secrets ??= resolveSecretsKey(rt.config, rt.log).then((key) => SecretBox.fromKey(key));

  // The cross-encoder of RERANK_MODEL, loaded on first use (one per process).
  let reranker: Promise<CrossEncoder> | undefined;
  const loadReranker = (dir: string) => {
    reranker ??= CrossEncoder.load(dir).catch((err) => {
      reranker = undefined;
      throw err;
    });
    return reranker;
  };
  rt.onClose(async () => {
    await (await reranker?.catch(() => undefined))?.close();
  });

  return [
    // `indexing.rerank_batch`: scores passages against a query with the RERANK_MODEL
    // cross-encoder and returns the logits to the caller waiting through request/reply (search
    // with `rerank: true` when `EMBED_QUERIES=worker`).
    replying(
      taskHandler(rerankBatchTask, async (payload, job) => {
        const dir = rt.config.rerankModel;
        if (!dir) {
          throw new AppError(
            "reranker_unavailable",
            "No reranker is configured on this worker: set RERANK_MODEL",
          );
        }
        const ce = await loadReranker(dir);
        const scores = await ctx.embeddingSemaphore.run(
          () => ce.score(payload.query, payload.passages),
          job.signal,
        );
        return { scores };
      }),
      rt.redis,
    ),

    // `indexing.generate_embeddings_batch`: embeds texts with a model in document or query mode
    // and returns the vectors to the caller waiting through request/reply (query embedding when
    // `EMBED_QUERIES=worker`).
    replying(
      taskHandler(generateEmbeddingsBatchTask, async (payload, job) => {
        const embedder = await rt.models.get(
          payload.model,
          payload.precision ? { precision: payload.precision } : {},
        );
        const vectors = await ctx.embeddingSemaphore.run(
          () => embedder.embedTexts(payload.texts, payload.mode, { signal: job.signal }),
          job.signal,
        );
        return {
          model: payload.model,
          dimension: embedder.dimension,
          vectors: vectors.map((v) => Array.from(v)),
        };
      }),
      rt.redis,
    ),

    // `indexing.process_source` (operations `index` and `append`): indexes the source named by
    // the operation's `config.source_id` into the collection, or, for a document retry, the
    // documents of `config.document_ids` (every source scanned, only those indexed).
    operation(processSourceTask, (task, op) =>
      failingPermanently(task, () => {
        const retry = retryConfig.safeParse(op.config);
        if (retry.success) {
          return indexSources(indexing, {
            reporter: task,
            op,
            documentIds: retry.data.document_ids,
          });
        }
        const { source_id } = sourceConfig.parse(op.config);
        return indexSources(indexing, { reporter: task, op, sourceIds: [source_id] });
      })),

    // `collections.delete_collection` (operation `delete`): removes the collection's vectors,
    // rows and event streams; the operation's own record stays.
    operation(deleteCollectionTask, async (_task, op) => {
      const done = await deleteCollectionData(
        {
          db: rt.db,
          vectors: rt.vectors,
          redis: rt.redis,
          eventKeys: rt.events.keys,
          dataDir: rt.config.dataDir,
          log: rt.log,
        },
        op.collection_id,
        { keepOperationId: op.id },
      );
      return { ...BASE_COUNTS, documents_total: done.documents_deleted, ...done };
    }),

    // `collections.remove_source` (operation `remove_source`): deletes the source named by the
    // operation's `config.source_id` with its documents, chunks and points.
    operation(removeSourceTask, (task, op) =>
      failingPermanently(task, async () => {
        const { source_id } = sourceConfig.parse(op.config);
        const done = await removeSourceData({
          db: rt.db,
          vectors: rt.vectors,
          dataDir: rt.config.dataDir,
          log: rt.log,
        }, { collectionId: op.collection_id, sourceId: source_id, signal: task.signal });
        return { ...BASE_COUNTS, documents_total: done.documents_removed, ...done };
      })),

    // `sync.sync_collection` (operation `sync`): brings the collection in line with its sources:
    // added, modified and deleted files.
    operation(
      syncCollectionTask,
      (task, op) =>
        failingPermanently(task, () => syncCollectionData(indexing, { reporter: task, op })),
    ),

    // `collections.reindex` (operation `reindex`): re-embeds the collection into a new generation
    // with the operation's settings and switches to it atomically. The last attempt discards
    // what it built when it fails; earlier ones leave it to resume. With `config.lexical_only`
    // (the lexical backfill), writes the lexical index of the existing points from the chunk
    // text instead, without re-embedding.
    operation(reindexTask, (task, op, job) =>
      failingPermanently(
        task,
        (): Promise<Record<string, unknown>> =>
          isLexicalOnly(op.config)
            ? backfillLexical(indexing, { reporter: task, op })
            : reindexCollectionData(indexing, {
              reporter: task,
              op,
              discardOnFailure: job.isLastAttempt,
            }),
      )),

    // `sync.check_continuous_sync` (scheduler, every 5 minutes by default): starts a `sync`
    // operation for each continuous collection that is due.
    // It also starts the lexical backfill of collections indexed before hybrid search
    // (`lexical_ready = false`, see migration 0010) that are free.
    taskHandler(checkContinuousSyncTask, async (payload) => {
      const deps = { db: rt.db, queues: ctx.queues, log: rt.log };
      const result = await checkContinuousSync(deps, { tick: payload.tick });
      const lexical = await startLexicalBackfills(deps);
      return { ...result, lexical_backfills_started: lexical.started };
    }),

    // `maintenance.cleanup_operations` (scheduler, daily at 03:00 UTC by default): removes
    // finished operations past `OPERATION_RETENTION_DAYS` with their streams, trims the event
    // and dead-letter streams, and drops the consumers and consumer groups of processes that are
    // gone.
    taskHandler(cleanupOperationsTask, () =>
      cleanupOperations({
        db: rt.db,
        redis: rt.redis,
        queues: ctx.queues,
        eventKeys: rt.events.keys,
        log: rt.log,
        liveConsumers: async () =>
          (await liveWorkers(rt.redis, { prefix: rt.config.redisPrefix })).map((w) => w.consumer),
      }, { retentionDays: rt.config.operationRetentionDays })),

    // `webhooks.deliver`: one signed POST of a webhook delivery recorded when an operation ended;
    // the queue retries it with the outbox's backoff, and a dead one marks the delivery failed.
    taskHandler(
      deliverWebhookTask,
      async (payload, job) => ({
        outcome: await deliverWebhook(
          { db: rt.db, secrets: openSecrets, log: rt.log },
          payload.delivery_id,
          {
            attempt: job.attempt,
            allowPrivate: rt.config.webhookAllowPrivate,
            timeoutMs: rt.config.webhookTimeoutMs,
            signal: job.signal,
          },
        ),
      }),
      {
        async onDead(payload, job, error) {
          await failWebhookDelivery(rt.db, {
            id: payload?.delivery_id ?? job.id,
            error: errorMessage(error, 1000),
          });
        },
      },
    ),

    // `webhooks.sweep_deliveries` (scheduler, every minute by default): enqueues the deliveries
    // recorded when an operation ended but never enqueued (the process died after the commit) or
    // whose job was lost.
    taskHandler(sweepWebhookDeliveriesTask, async () => ({ enqueued: await webhooks.sweep() })),

    // `maintenance.reconcile` (scheduler, every minute by default): enqueues again the operations
    // Postgres says are active but no job holds (after a Redis flush or restart), fails those
    // whose job is dead, and fails those running past `OPERATION_MAX_RUNTIME_MINUTES`.
    taskHandler(reconcileTask, () =>
      reconcileOperations(
        { db: rt.db, queues: ctx.queues, events: rt.events, log: rt.log, webhooks },
        {
          maxRuntimeMinutes: rt.config.operationMaxRuntimeMinutes,
          graceMs: rt.config.reconcileGraceMs,
        },
      )),
  ];
}
