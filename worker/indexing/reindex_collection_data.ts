/**
 * The work of `collections.reindex` (blue/green): every completed document is re-extracted,
 * re-chunked and re-embedded with the new settings into generation N+1 (`col_<hex>_g<N+1>`,
 * chunk rows staged in `staged_chunks`/`staged_documents`) while searches keep using generation
 * N through the alias. The new generation is validated (point count = staged chunk count, and a
 * sample of its chunks finds itself by search), then switched:
 *
 * 1. one transaction copies the staged chunk rows in (their ids differ from the old ones, so
 *    both sets answer searches for a moment), updates the documents and the collection's
 *    settings and `vector_generation`;
 * 2. the alias moves to the new collection in one atomic step;
 * 3. after a grace period for searches already past their vector lookup, the old chunk rows, the
 *    staging rows and the old vector collection go.
 *
 * Before step 1 nothing a search or a count reads has changed, so a failure leaves the old
 * generation as it was (the half-built one is discarded when the operation gives up or is
 * cancelled, else kept for the next attempt to resume). After step 1 the switch is finished by
 * the next attempt, or by the next operation on the collection (`ensureVectorTarget`).
 */
import { z } from "zod";
import {
  AppError,
  type DocumentSource,
  type Embedder,
  generationCollectionName,
  sourceStateDir,
  vectorStoreNameFor,
} from "@semantik/shared";
import { isCancellation } from "../operation_task.ts";
import {
  embedderFor,
  type IndexingDeps,
  loadIndexedCollection,
  loadSources,
  type OperationReporter,
  type OperationRun,
} from "./indexed_collection.ts";
import { IndexingPipeline } from "./indexing_pipeline.ts";
import { StagedIndexSink } from "./staged_index_sink.ts";
import type { StoredDocument } from "./stored_documents.ts";
import { retireOldGenerations } from "./vector_target.ts";
import { openSource } from "./open_source.ts";

/** The reindex operation's config, as `reindexCollection` writes it. */
export const reindexConfigSchema = z.object({
  embedding_model: z.string().min(1),
  /** Asked for by the user; unset: the collection's own when the model stays, else the default. */
  embedding_precision: z.enum(["fp32", "fp16", "int8"]).optional(),
  vector_dim: z.number().int().positive(),
  chunk_size: z.number().int().positive(),
  chunk_overlap: z.number().int().nonnegative(),
}).refine((c) => c.chunk_overlap < c.chunk_size, "chunk_overlap must be below chunk_size");

export interface ReindexOptions {
  /** Time between the alias switch and dropping the old rows, in ms. @default {2000} */
  switchGraceMs?: number;
  /** Chunks of the new generation searched for before the switch. @default {3} */
  validationSamples?: number;
  /**
   * Discard the half-built generation when this attempt fails (its last attempt). A
   * cancellation always discards it. @default {false}
   */
  discardOnFailure?: boolean;
}

/** A reporter that can also write pending progress now (a TaskContext). */
export interface ReindexReporter extends OperationReporter {
  flush(): Promise<void>;
}

/** What the staged generation holds. */
export interface StagedCounts {
  documents_total: number;
  documents_processed: number;
  documents_failed: number;
  documents_skipped: number;
  chunks_created: number;
}

export interface ReindexSummary extends StagedCounts, Record<string, number> {
  generation: number;
  previous_generation: number;
  validated_searches: number;
}

/** Builds, validates and switches to the next generation; returns the completion metadata. */
export async function reindexCollectionData(
  deps: IndexingDeps,
  options: OperationRun<ReindexReporter> & ReindexOptions,
): Promise<ReindexSummary> {
  const {
    reporter,
    op,
    switchGraceMs = 2000,
    validationSamples = 3,
    discardOnFailure = false,
  } = options;
  const cfg = parseReindexConfig(op.config);
  const { db, vectors } = deps;
  const c = await loadIndexedCollection(db, op.collection_id);
  const meta = op.metadata ?? {};
  const planned = typeof meta.target_generation === "number" ? meta.target_generation : undefined;
  const alias = vectorStoreNameFor(c.id);

  if (planned !== undefined && c.vector_generation === planned) {
    // An earlier attempt committed the switch: finish it and report what it built.
    const previous = Number(meta.previous_generation ?? planned - 1);
    await vectors.setAlias(alias, generationCollectionName(c.id, planned));
    await retireOldGenerations(deps, {
      collectionId: c.id,
      generation: planned,
      previous: [generationCollectionName(c.id, previous)],
    });
    return summaryFrom(meta, planned, previous);
  }

  const previous = c.vector_generation;
  const target = previous + 1;
  const physical = generationCollectionName(c.id, target);
  const resumed = planned === target;
  if (!resumed) {
    await discardBuild(deps, { collectionId: c.id, generation: target });
    reporter.updateProgress(0, "Preparing the new generation", {
      target_generation: target,
      previous_generation: previous,
    });
    await reporter.flush();
  }

  let switched = false;
  try {
    const embedder = await embedderFor(deps, {
      model: cfg.embedding_model,
      dimension: cfg.vector_dim,
      precision: cfg.embedding_precision ??
        (cfg.embedding_model === c.embedding_model ? c.embedding_precision : null),
    });
    await buildGeneration(deps, { reporter, embedder, cfg, collectionId: c.id, target, resumed });
    reporter.updateProgress(91, "Building the search index of the new generation");
    await vectors.finishBulkLoad(physical);

    reporter.updateProgress(92, "Validating the new generation");
    const validated = await validateGeneration(deps, {
      collectionId: c.id,
      generation: target,
      physical,
      samples: validationSamples,
      search: async (text) => {
        const run = () => embedder.embedTexts([text], "document", { signal: reporter.signal });
        const [v] = deps.gate ? await deps.gate.run(run, reporter.signal) : await run();
        return v!;
      },
    });
    const summary = { ...(await stagedSummary(deps, c.id, target)), validated_searches: validated };
    reporter.updateProgress(95, "Switching to the new generation", {
      ...summary,
      target_generation: target,
      previous_generation: previous,
    });
    await reporter.flush();
    await reporter.checkpoint();

    await commitSwitch(db, {
      collectionId: c.id,
      cfg,
      precision: embedder.precision,
      target,
      previous,
    });
    switched = true;
    await vectors.setAlias(alias, physical);
    if (switchGraceMs > 0) await new Promise((r) => setTimeout(r, switchGraceMs));
    await retireOldGenerations(deps, {
      collectionId: c.id,
      generation: target,
      previous: [generationCollectionName(c.id, previous)],
    });
    return { ...summary, generation: target, previous_generation: previous };
  } catch (err) {
    if (!switched && (discardOnFailure || isCancellation(err, reporter.signal))) {
      await discardBuild(deps, { collectionId: c.id, generation: target }).catch((e) =>
        deps.log?.warn("cannot discard a failed reindex's generation", { err: e })
      );
    }
    throw err;
  }
}

type ReindexConfig = z.output<typeof reindexConfigSchema>;

/** The operation's config, or a 400 `invalid_request` naming what is wrong with it. */
function parseReindexConfig(config: unknown): ReindexConfig {
  const parsed = reindexConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new AppError(
      "invalid_request",
      `Cannot reindex: bad operation config: ${
        parsed.error.issues.map((i) => i.message).join("; ")
      }`,
    );
  }
  return parsed.data;
}

/** Options of {@link buildGeneration}. */
interface BuildGenerationOptions {
  reporter: ReindexReporter;
  embedder: Embedder;
  cfg: ReindexConfig;
  collectionId: string;
  target: number;
  /** An earlier attempt wrote some of the generation: its documents may have points. */
  resumed: boolean;
}

/**
 * Re-embeds every completed document not staged yet into generation `target` (its vector
 * collection and the staging rows), reporting progress up to 90%.
 */
async function buildGeneration(deps: IndexingDeps, options: BuildGenerationOptions): Promise<void> {
  const { reporter, embedder, cfg, collectionId, target, resumed } = options;
  const { db, vectors } = deps;
  const physical = generationCollectionName(collectionId, target);
  // Nobody searches the new generation before the switch: a bulk load, its HNSW index built
  // once its points are in (before the validation searches it).
  await vectors.ensureCollection(physical, cfg.vector_dim, { bulkLoad: true });
  const docs = await completedDocuments(deps, collectionId);
  const staged = new Set(
    (await db.query<{ document_id: string }>(
      "select document_id from staged_documents where collection_id = $1 and generation = $2",
      [collectionId, target],
    )).map((r) => r.document_id),
  );
  const todo = docs.filter((d) => !staged.has(d.id));
  const total = docs.length;
  let done = total - todo.length;
  const sink = new StagedIndexSink({
    db,
    collectionId: collectionId,
    generation: target,
    vectorCollection: physical,
  });
  const pipeline = new IndexingPipeline({
    vectors,
    embedder,
    sink,
    chunkSize: cfg.chunk_size,
    chunkOverlap: cfg.chunk_overlap,
    maxFileSizeBytes: deps.maxFileSizeBytes,
    documentRoots: deps.documentRoots,
    gate: deps.gate,
    signal: reporter.signal,
    batchChunks: deps.batchChunks,
    prefetchBatches: deps.prefetchBatches,
    log: deps.log,
    onRecorded(outcomes) {
      done += outcomes.length;
      reporter.updateProgress(
        Math.min(90, (90 * done) / Math.max(1, total)),
        `Re-embedded ${done} of ${total} documents`,
      );
    },
  });
  // Git and web documents are read from their source's local copy, by change token: the bytes
  // indexed, without the network (files are read from their path, as they are now).
  const sourceRows = new Map((await loadSources(db, { collectionId })).map((s) => [s.id, s]));
  const opened = new Map<string, DocumentSource>();
  const sourceOf = async (
    d: StoredDocument & { mimeType: string | null },
  ): Promise<DocumentSource | undefined> => {
    const row = d.sourceId ? sourceRows.get(d.sourceId) : undefined;
    if (!row || row.type === "directory" || d.changeToken === null) return undefined;
    let source = opened.get(row.id);
    if (!source) {
      source = await openSource(row, {
        documentRoots: deps.documentRoots,
        maxFileSizeBytes: deps.maxFileSizeBytes,
        sources: deps.sources,
        log: deps.log,
      });
      opened.set(row.id, source);
      // A worker that never listed the source makes its copy first (what the source holds now:
      // a document whose content has changed since is then recorded failed until the next sync).
      const dir = sourceStateDir(deps.sources!.dataDir, row.id);
      if (!await Deno.stat(dir).then(() => true, () => false)) {
        await source.list({ signal: reporter.signal });
      }
    }
    return source;
  };
  try {
    for (const d of todo) {
      await reporter.checkpoint();
      const source = await sourceOf(d);
      const mtimeMs = source ? d.mtimeMs : await currentMtime(d.uri) ?? d.mtimeMs;
      await pipeline.add({
        // The new generation is empty unless an earlier attempt wrote some of it.
        ref: {
          id: d.id,
          uri: d.uri,
          sourceId: d.sourceId,
          change: null,
          mayHavePoints: resumed,
          isNew: false,
          stored: d,
        },
        path: d.uri,
        sizeBytes: d.sizeBytes,
        mtimeMs,
        verifyHash: null,
        ...(source
          ? {
            entry: {
              source,
              // The uri ends with the path, whose extension (or the recorded type) names the
              // extractor.
              ref: { uri: d.uri, path: d.uri, changeToken: d.changeToken!, mimeType: d.mimeType },
            },
          }
          : {}),
      });
    }
    await pipeline.finish();
  } catch (err) {
    await pipeline.abort(err);
    throw err;
  } finally {
    for (const source of opened.values()) await source.close().catch(() => {});
  }
}

/** Options of {@link commitSwitch}. */
interface CommitSwitchOptions {
  collectionId: string;
  cfg: ReindexConfig;
  /** The precision the new generation was embedded at. */
  precision: Embedder["precision"];
  target: number;
  previous: number;
}

/**
 * Step 1 of the switch, in one transaction: the collection's settings and generation (only if
 * it still serves `previous`), the staged chunk rows copied in, the documents updated.
 */
async function commitSwitch(db: IndexingDeps["db"], options: CommitSwitchOptions): Promise<void> {
  const { collectionId, cfg, precision, target, previous } = options;
  await db.transaction(async (tx) => {
    const [row] = await tx.query<{ id: string }>(
      `update collections set embedding_model = $2, vector_dim = $3, chunk_size = $4,
              chunk_overlap = $5, vector_generation = $6, embedding_precision = $8,
              lexical_ready = true, updated_at = now()
        where id = $1 and vector_generation = $7 returning id`,
      [
        collectionId,
        cfg.embedding_model,
        cfg.vector_dim,
        cfg.chunk_size,
        cfg.chunk_overlap,
        target,
        previous,
        precision,
      ],
    );
    if (!row) {
      throw new Error(
        `Cannot switch collection ${collectionId} to generation ${target}: it no longer serves ` +
          `generation ${previous}`,
      );
    }
    await tx.query(
      `insert into chunks (collection_id, generation, id, document_id, ordinal, text,
                           start_offset, end_offset, page, token_count)
       select collection_id, generation, id, document_id, ordinal, text, start_offset,
              end_offset, page, token_count
         from staged_chunks where collection_id = $1 and generation = $2
       on conflict (collection_id, id) do nothing`,
      [collectionId, target],
    );
    await tx.query(
      `update documents d set content_hash = s.content_hash, size_bytes = s.size_bytes,
              mtime = s.mtime, mime_type = coalesce(s.mime_type, d.mime_type),
              status = s.status, error = s.error, chunk_count = s.chunk_count,
              updated_at = now()
         from staged_documents s
        where s.collection_id = $1 and s.generation = $2 and d.id = s.document_id`,
      [collectionId, target],
    );
  });
}

/** Drops a half-built generation and its staged rows. */
export async function discardBuild(
  deps: Pick<IndexingDeps, "db" | "vectors">,
  { collectionId, generation }: { collectionId: string; generation: number },
): Promise<void> {
  await deps.vectors.drop(generationCollectionName(collectionId, generation));
  await deps.db.transaction(async (tx) => {
    await tx.query("delete from staged_chunks where collection_id = $1", [collectionId]);
    await tx.query("delete from staged_documents where collection_id = $1", [collectionId]);
  });
}

async function completedDocuments(
  deps: Pick<IndexingDeps, "db">,
  collectionId: string,
): Promise<(StoredDocument & { mimeType: string | null })[]> {
  const rows = await deps.db.query<{
    id: string;
    uri: string;
    source_id: string | null;
    content_hash: string | null;
    size_bytes: number;
    mtime: Date | null;
    chunk_count: number;
    indexed_by: string | null;
    change_token: string | null;
    mime_type: string | null;
  }>(
    `select id, uri, source_id, content_hash, size_bytes, mtime, chunk_count, indexed_by,
            change_token, mime_type
       from documents where collection_id = $1 and status = 'completed' order by uri`,
    [collectionId],
  );
  return rows.map((r) => ({
    id: r.id,
    uri: r.uri,
    sourceId: r.source_id,
    status: "completed",
    contentHash: r.content_hash,
    sizeBytes: Number(r.size_bytes),
    mtimeMs: r.mtime ? r.mtime.getTime() : null,
    error: null,
    chunkCount: r.chunk_count,
    indexedBy: r.indexed_by,
    lastChange: null,
    changeToken: r.change_token,
    mimeType: r.mime_type,
  }));
}

async function currentMtime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? null;
  } catch {
    return null;
  }
}

/**
 * The new generation must hold exactly the staged chunks, and searching with a sample of their
 * vectors must find them. Returns the number of sample searches made.
 */
async function validateGeneration(
  deps: Pick<IndexingDeps, "db" | "vectors">,
  options: {
    collectionId: string;
    generation: number;
    /** The generation's vector collection. */
    physical: string;
    samples: number;
    search: (text: string) => Promise<Float32Array>;
  },
): Promise<number> {
  const { collectionId, generation, physical } = options;
  const [n] = await deps.db.query<{ n: number }>(
    "select count(*)::int as n from staged_chunks where collection_id = $1 and generation = $2",
    [collectionId, generation],
  );
  const expected = n?.n ?? 0;
  const actual = await deps.vectors.count(physical);
  if (actual !== expected) {
    throw new Error(
      `Cannot switch to generation ${generation}: ${physical} holds ${actual} points for ` +
        `${expected} staged chunks`,
    );
  }
  if (options.samples < 1 || expected === 0) return 0;
  const samples = await deps.db.query<{ id: string; text: string }>(
    `select id, text from staged_chunks where collection_id = $1 and generation = $2
      order by md5(id::text) limit $3`,
    [collectionId, generation, options.samples],
  );
  for (const s of samples) {
    const hits = await deps.vectors.search(physical, await options.search(s.text), { k: 10 });
    if (!hits.some((h) => h.id === s.id)) {
      throw new Error(
        `Cannot switch to generation ${generation}: a search with chunk ${s.id}'s own vector ` +
          `did not find it (${hits.length} hits)`,
      );
    }
  }
  return samples.length;
}

async function stagedSummary(
  deps: Pick<IndexingDeps, "db">,
  collectionId: string,
  generation: number,
): Promise<StagedCounts> {
  const [r] = await deps.db.query<{
    total: number;
    completed: number;
    failed: number;
    skipped: number;
    chunks: number;
  }>(
    `select count(*)::int as total,
            count(*) filter (where status = 'completed')::int as completed,
            count(*) filter (where status = 'failed')::int as failed,
            count(*) filter (where status = 'skipped')::int as skipped,
            coalesce(sum(chunk_count), 0)::int as chunks
       from staged_documents where collection_id = $1 and generation = $2`,
    [collectionId, generation],
  );
  return {
    documents_total: r?.total ?? 0,
    documents_processed: r?.completed ?? 0,
    documents_failed: r?.failed ?? 0,
    documents_skipped: r?.skipped ?? 0,
    chunks_created: r?.chunks ?? 0,
  };
}

function summaryFrom(
  meta: Record<string, unknown>,
  generation: number,
  previous: number,
): ReindexSummary {
  const n = (k: string) => (typeof meta[k] === "number" ? meta[k] as number : 0);
  return {
    documents_total: n("documents_total"),
    documents_processed: n("documents_processed"),
    documents_failed: n("documents_failed"),
    documents_skipped: n("documents_skipped"),
    chunks_created: n("chunks_created"),
    validated_searches: n("validated_searches"),
    generation,
    previous_generation: previous,
  };
}
