/**
 * `deno task bench:ingest`: chunks per second of indexing a generated corpus through the real
 * queue and a worker (`indexing.process_source`: scan, extract, chunk, embed across documents,
 * upsert, record), against, in the same run, on the same model session:
 *
 * - the embedder alone on exactly the chunks the pipeline made (one `embedTexts` call: the
 *   ceiling; `efficiency` = pipeline / embedder alone);
 * - a naive pipeline that takes one document at a time: extract, chunk, embed that document's
 *   chunks, upsert them, record it, then the next (`vs_naive` = pipeline / naive);
 * - the same pipeline with the embedding settings before CPU tuning (fp32, one onnxruntime
 *   thread, a 4096-token batch budget): `vs_today` = pipeline / that;
 * - the same pipeline without lexical indexing (the chunk text is not handed to the vector
 *   store, so no terms, tsvector or GIN entries are written): `lexical_overhead` = (pipeline -
 *   that) / that, the median over rounds of wall time, and `lexical_overhead_cpu` of CPU time.
 *
 * The pipeline and the embedder alone run at the configured precision (`EMBEDDING_PRECISION`,
 * int8 on a CPU by default), so `efficiency` compares like with like.
 *
 * Usage: deno task bench:ingest [--docs N] [--rounds N] [--device D] [--seed N]
 *   [--vectors server|inprocess]   (BENCH_LOG=info shows the worker's log, warn by default)
 *
 * The store is made as the service makes it (`PGVECTOR_INDEXING_THRESHOLD_KB`: a corpus of fewer
 * chunks than `hnsw_from_chunks` builds no HNSW index; 0 builds it at the end of each first index).
 *
 * Metadata go to DATABASE_URL when set, else a fresh schema on the test Postgres
 * (TEST_DATABASE_URL, dropped afterwards); vectors to VECTOR_DATABASE_URL when set, else to a
 * pgvector database in a process of its own (a pglite-server, `--vectors server`, the default:
 * like a vector store on its own host, it keeps the worker's event loop free) or in this
 * process (`--vectors inprocess`, the single-process embedded mode, where every HNSW insert runs
 * on the worker's main thread); Redis at REDIS_URL under a random prefix (removed afterwards). The model is DEFAULT_EMBEDDING_MODEL (all-MiniLM-L6-v2, converted
 * on first use). Each figure is the best of `--rounds` alternating rounds after one warm-up.
 *
 * On a loaded machine the best-of figures swing with the neighbours, so each round also prints the
 * CPU seconds of the pipeline (this process by kind of thread, plus the vector server's process)
 * and of the embedder alone, with the whole machine's busy seconds beside them (`machine`: on a
 * quiet machine what the shared Postgres and Redis spent is `machine` less the rest, printed as
 * `services_cpu_s`), and the last line adds the median over rounds of the per-round ratios:
 * `efficiency_median` (wall), `efficiency_cpu` (embedder-alone CPU / pipeline CPU) and
 * `efficiency_machine_cpu` (the same by the machine's busy seconds, the services included). The
 * embedder alone is timed twice: on all the chunks in one call (it plans its own batches over all
 * of them: the ceiling) and on the very batches the pipeline handed it, one call each in order
 * (`efficiency_same_batches`, wall, and `efficiency_same_batches_cpu`: what the pipeline's other
 * work costs, batch shapes aside).
 * Each round also says how busy the model's sessions were (`sessions_busy`, and
 * `embedder_only_sessions_busy` for the embedder alone): the seconds of model batches, each from
 * when a session took it, over the sessions times the wall time; the rest is lead, tail, and
 * sessions left waiting between calls.
 *
 * Last line: {"bench":"ingest","chunks_per_s":..,"embedder_only_chunks_per_s":..,"efficiency":..,
 * "efficiency_median":..,"efficiency_cpu":..,"efficiency_machine_cpu":..,
 * "efficiency_same_batches":..,"efficiency_same_batches_cpu":..,"vs_naive":..,
 * "today_chunks_per_s":..,"vs_today":..,
 * "lexical_overhead":..,"lexical_overhead_cpu":..,"precision":..,"vector_store":..,
 * "pgvector_indexing_threshold_kb":..,"hnsw_from_chunks":..}
 */
import { BENCH_WORDS, median, positiveArg, seededRandom } from "./_common.ts";
import { type CpuSample, cpuSince, sampleCpu } from "./_cpu.ts";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  chunkDocument,
  connectPostgres,
  createRedis,
  createRuntime,
  type Db,
  dispatchOperation,
  type Embedder,
  ensureDefaultModel,
  extractFile,
  ExtractionError,
  indexedFromPoints,
  loadConfig,
  ModelRegistry,
  openPglite,
  PgvectorStore,
  resolveSourcePath,
  scanSource,
  type VectorStore,
} from "@semantik/shared";
import { type CollectionDeps, createCollection } from "../api/collections/collections.ts";
import { createServerTestDb, deleteByPrefix, type TestDb } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { generationCollectionName } from "../shared/collections/collection_names.ts";
import { chunkPointId, documentIdFor } from "../worker/indexing/mod.ts";
import { configureLogging, getLogger } from "../shared/log/logger.ts";
import type { Precision } from "../shared/embedding/precision.ts";
import { startPgliteServer } from "../tests/helpers/pglite_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    docs: { type: "string", default: "150" },
    rounds: { type: "string", default: "2" },
    device: { type: "string" },
    seed: { type: "string", default: "7" },
    vectors: { type: "string", default: "server" },
  },
});
const docCount = positiveArg("docs", values.docs);
const rounds = positiveArg("rounds", values.rounds);
const seed = positiveArg("seed", values.seed);
if (values.vectors !== "server" && values.vectors !== "inprocess") {
  console.error(`Cannot run bench: --vectors must be server or inprocess, got ${values.vectors}`);
  Deno.exit(2);
}

const WORDS = [
  ...BENCH_WORDS,
  ...("river mountain music history science water energy market health policy garden kitchen travel")
    .split(" "),
];

/**
 * A corpus shaped like a folder of notes and docs: most files a paragraph or two (one chunk),
 * some a few pages, a few long ones.
 */
async function writeCorpus(dir: string, n: number): Promise<void> {
  const next = seededRandom(seed);
  const sentence = () => {
    const len = 8 + Math.floor(next() * 14);
    const w = Array.from({ length: len }, () => WORDS[Math.floor(next() * WORDS.length)]!);
    return w.join(" ").replace(/^./, (c) => c.toUpperCase()) + ".";
  };
  const paragraph = () => Array.from({ length: 2 + Math.floor(next() * 5) }, sentence).join(" ");
  for (let i = 0; i < n; i++) {
    const r = next();
    const paragraphs = r < 0.6
      ? 1 + Math.floor(next() * 2)
      : r < 0.9
      ? 3 + Math.floor(next() * 6)
      : 12 + Math.floor(next() * 12);
    const text = `# Note ${i}\n\n` + Array.from({ length: paragraphs }, paragraph).join("\n\n") +
      "\n";
    const sub = join(dir, `group-${i % 10}`);
    await Deno.mkdir(sub, { recursive: true });
    await Deno.writeTextFile(join(sub, `note-${String(i).padStart(4, "0")}.md`), text);
  }
}

/** Processes whose CPU counts with the pipeline's: the vector server, when the bench started one. */
const cpuOf: { vectors?: number } = {};

async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ seconds: number; cpu: CpuSample; value: T }> {
  const before = sampleCpu(cpuOf);
  const started = performance.now();
  const value = await fn();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, cpu: cpuSince(before, sampleCpu(cpuOf)), value };
}

configureLogging({ level: (Deno.env.get("BENCH_LOG") ?? "warn") as "warn" });
const log = getLogger("bench:ingest");
const prefix = `bench:ingest:${crypto.randomUUID().slice(0, 8)}:`;
const scratch = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-bench-ingest-" }));
const corpusDir = join(scratch, "corpus");
await writeCorpus(corpusDir, docCount);

const base = loadConfig({ ...Deno.env.toObject(), DOCUMENT_ROOTS: corpusDir, LOG_LEVEL: "warn" });
const config = {
  ...base,
  redisPrefix: prefix,
  embeddingDevice: (values.device as typeof base.embeddingDevice | undefined) ??
    base.embeddingDevice,
};
await ensureDefaultModel(config.modelsDir, { log });

let testDb: TestDb | undefined;
const db: Db = config.databaseUrl
  ? connectPostgres(config.databaseUrl)
  : (testDb = await createServerTestDb()).db;
const server = !config.vectorDatabaseUrl && values.vectors === "server"
  ? await startPgliteServer()
  : undefined;
cpuOf.vectors = server?.pid;
const vectorUrl = config.vectorDatabaseUrl ?? server?.url;
const vectorDb = vectorUrl ? undefined : await openPglite();
// The store as the service makes it: a collection below PGVECTOR_INDEXING_THRESHOLD_KB gets no
// HNSW index (0: built at the end of every first index, as before the setting).
const indexingThresholdKb = config.pgvectorIndexingThresholdKb;
const store: VectorStore = vectorDb
  ? new PgvectorStore(vectorDb, { indexingThresholdKb })
  : new PgvectorStore(connectPostgres(vectorUrl!, { max: 5 }), {
    ownsDb: true,
    indexingThresholdKb,
  });
/** While false, upserts reach the store without their text: no lexical indexing. */
const lexical = { on: true };
const vectors: VectorStore = new Proxy(store, {
  get: (target, prop) => {
    if (prop === "upsert") {
      return (name: string, points: Parameters<VectorStore["upsert"]>[1]) =>
        target.upsert(name, lexical.on ? points : points.map(({ text: _text, ...p }) => p));
    }
    const v = Reflect.get(target, prop, target);
    return typeof v === "function" ? v.bind(target) : v;
  },
});
/**
 * The registry the worker uses, timing every `embedTexts` call: the share of the pipeline's time
 * during which the model was busy says how well the pipeline feeds it (the rest of the gap to
 * the embedder alone is CPU the other stages take from it).
 */
class TimedRegistry extends ModelRegistry {
  busyMs = 0;
  /** When the first embedding call of the last pipeline run began, and the last one ended. */
  firstStart: number | undefined;
  lastEnd = 0;
  /** The texts of each embedding call of the last pipeline run, in order. */
  batches: string[][] = [];
  /** While set, the worker gets the embedder of the settings before CPU tuning. */
  today: ModelRegistry | undefined;
  override async get(name: string, options?: { precision?: Precision }): Promise<Embedder> {
    const e = this.today
      ? await this.today.get(name, { precision: "fp32" })
      : await super.get(name, options);
    const timed = async (...args: Parameters<Embedder["embedTexts"]>) => {
      if (!this.today) this.batches.push(args[0]);
      const started = performance.now();
      this.firstStart ??= started;
      try {
        return await e.embedTexts(...args);
      } finally {
        this.lastEnd = performance.now();
        this.busyMs += this.lastEnd - started;
      }
    };
    return new Proxy(e, {
      get: (target, prop) => {
        if (prop === "embedTexts") return timed;
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }
}
/** Seconds of model batches run (summed over sessions): how busy the sessions were. */
const batchTime = { seconds: 0 };
const models = new TimedRegistry({
  observer: {
    batch: (e) => void (batchTime.seconds += e.seconds),
    outOfMemory: () => {},
  },
  modelsDir: config.modelsDir,
  device: config.embeddingDevice,
  precision: config.embeddingPrecision,
  sessions: config.embeddingSessions === "auto" ? undefined : config.embeddingSessions,
  log,
});
const todayModels = new ModelRegistry({
  modelsDir: config.modelsDir,
  device: config.embeddingDevice,
  precision: "fp32",
  sessions: 1,
  intraOpNumThreads: 1,
  maxBatchTokens: 4096,
  log,
});
const rt = await createRuntime(config, { role: "bench", db, vectors, models });

try {
  await startWorker(rt);
  // The bench's own calls (embedder alone, naive) go around the timing wrapper.
  const embedder = await ModelRegistry.prototype.get.call(models, config.defaultEmbeddingModel);
  await todayModels.get(config.defaultEmbeddingModel, { precision: "fp32" });
  const [user] = await db.query<{ id: string }>(
    "insert into users (id, username, password_hash) values ($1, $2, 'x') returning id",
    [crypto.randomUUID(), `bench-${crypto.randomUUID().slice(0, 8)}`],
  );
  const deps: CollectionDeps = {
    db,
    defaultEmbeddingModel: config.defaultEmbeddingModel,
    documentRoots: [corpusDir],
    models,
    resolveSourcePath,
    dispatch: (op) => dispatchOperation(rt.queues, op).then(() => {}),
  };
  let collections = 0;

  /** The real thing: an index operation through the queue, run by the worker. */
  const pipeline = async () => {
    models.busyMs = 0;
    models.batches = [];
    models.firstStart = undefined;
    batchTime.seconds = 0;
    const began = performance.now();
    const { value: op, seconds, cpu } = await timed(async () => {
      const { operation } = await createCollection(deps, {
        userId: user!.id,
        input: {
          name: `pipeline-${collections++}`,
          source: { type: "directory", path: corpusDir },
        },
      });
      for (;;) {
        const [row] = await db.query<{ status: string; metadata: Record<string, number> }>(
          "select status, metadata, collection_id from operations where id = $1",
          [operation!.id],
        );
        if (row && row.status !== "pending" && row.status !== "processing") {
          return { ...row, collection_id: operation!.collection_id };
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    if (op.status !== "completed") throw new Error(`Bench index operation ended ${op.status}`);
    return {
      seconds,
      cpu,
      chunks: op.metadata.chunks_created!,
      collectionId: op.collection_id,
      busy: models.busyMs / 1000 / seconds,
      sessionsBusy: batchTime.seconds / (seconds * (embedder.parallelRuns ?? 1)),
      /** From the start to the first embedding call, and from the last one's end to the end. */
      leadS: ((models.firstStart ?? began) - began) / 1000,
      tailS: (began + seconds * 1000 - models.lastEnd) / 1000,
    };
  };

  /** One document at a time: extract, chunk, embed, upsert, record; no batching across documents, no overlap. */
  const pipelineToday = async () => {
    models.today = todayModels;
    try {
      return await pipeline();
    } finally {
      models.today = undefined;
    }
  };

  /** The pipeline without lexical indexing. */
  const pipelineBare = async () => {
    lexical.on = false;
    try {
      return await pipeline();
    } finally {
      lexical.on = true;
    }
  };

  const naive = async () => {
    const { collection } = await createCollection(deps, {
      userId: user!.id,
      input: {
        name: `naive-${collections++}`,
      },
    });
    const physical = generationCollectionName(collection.id, 1);
    await vectors.ensureCollection(physical, embedder.dimension);
    let chunks = 0;
    const { seconds } = await timed(async () => {
      const files = [];
      for await (
        const e of scanSource({ path: corpusDir }, {
          documentRoots: [corpusDir],
          maxFileSizeBytes: config.maxFileSizeBytes,
        })
      ) {
        if (e.kind === "file") files.push(e);
      }
      for (const f of files) {
        let doc;
        try {
          doc = await extractFile(f.uri, {
            documentRoots: [corpusDir],
            maxBytes: config.maxFileSizeBytes,
          });
        } catch (err) {
          if (err instanceof ExtractionError) continue;
          throw err;
        }
        const parts = chunkDocument(doc, {
          chunkSize: collection.chunk_size,
          chunkOverlap: collection.chunk_overlap,
          tokenizer: embedder,
        });
        const vecs = await embedder.embedTexts(parts.map((p) => p.text), "document");
        const docId = documentIdFor(collection.id, f.uri);
        const ids = parts.map((p) =>
          chunkPointId(collection.id, { generation: 1, uri: f.uri, ordinal: p.ordinal })
        );
        await vectors.upsert(
          physical,
          parts.map((p, i) => ({
            id: ids[i]!,
            vector: vecs[i]!,
            payload: {
              collection_id: collection.id,
              document_id: docId,
              uri: f.uri,
              chunk_index: p.ordinal,
            },
          })),
        );
        await db.transaction(async (tx) => {
          await tx.query(
            `insert into documents (id, collection_id, uri, content_hash, size_bytes, status,
                                    chunk_count) values ($1, $2, $3, $4, $5, 'completed', $6)`,
            [docId, collection.id, f.uri, doc.contentHash, doc.sizeBytes, parts.length],
          );
          for (const [i, p] of parts.entries()) {
            await tx.query(
              `insert into chunks (collection_id, id, document_id, ordinal, text, start_offset,
                                   end_offset, token_count) values ($1, $2, $3, $4, $5, $6, $7, $8)`,
              [
                collection.id,
                ids[i]!,
                docId,
                p.ordinal,
                p.text,
                p.startOffset,
                p.endOffset,
                p.tokenCount,
              ],
            );
          }
        });
        chunks += parts.length;
      }
    });
    return { seconds, chunks };
  };

  // Warm-up (untimed): the model's session, ONNX Runtime's arena and plans, the stores.
  const warm = await pipeline();
  const texts = (await db.query<{ text: string }>(
    `select k.text from chunks k join documents d on d.id = k.document_id
      where k.collection_id = $1 order by d.uri, k.ordinal`,
    [warm.collectionId],
  )).map((r) => r.text);
  await embedder.embedTexts(texts, "document");
  await naive();
  await pipelineToday();
  await pipelineBare();

  let best = { pipeline: Infinity, embedder: Infinity, naive: Infinity, today: Infinity, busy: 0 };
  /** Per round, pipeline against the embedder alone run right after it: wall and CPU time. */
  const wallRatios: number[] = [];
  const cpuRatios: number[] = [];
  const machineCpuRatios: number[] = [];
  /** The same against the embedder alone on the pipeline's own batches. */
  const shapedRatios: number[] = [];
  const shapedCpuRatios: number[] = [];
  /** Per round, (pipeline - pipeline without lexical indexing) / that: wall and CPU time. */
  const lexicalWall: number[] = [];
  const lexicalCpu: number[] = [];
  let pipelineBatches: number[] = [];
  const cpuTotal = (c: CpuSample) =>
    c.main + c.inference + c.other + Object.values(c.processes).reduce((a, b) => a + b, 0);
  let chunks = warm.chunks;
  for (let r = 0; r < rounds; r++) {
    const p = await pipeline();
    batchTime.seconds = 0;
    const e = await timed(() => embedder.embedTexts(texts, "document"));
    const eSessionsBusy = batchTime.seconds / (e.seconds * (embedder.parallelRuns ?? 1));
    // The embedder alone again, on the batches the pipeline handed it (same shapes, in order).
    const shaped = models.batches;
    const eb = await timed(async () => {
      for (const b of shaped) await embedder.embedTexts(b, "document");
    });
    const n = await naive();
    const t = await pipelineToday();
    // With and without lexical indexing, in turns (which goes first alternates by round).
    const [lx, bare] = r % 2 === 0 ? [p, await pipelineBare()] : await (async () => {
      const b = await pipelineBare();
      return [await pipeline(), b] as const;
    })();
    lexicalWall.push((lx.seconds - bare.seconds) / bare.seconds);
    lexicalCpu.push((cpuTotal(lx.cpu) - cpuTotal(bare.cpu)) / cpuTotal(bare.cpu));
    if (p.chunks !== texts.length || n.chunks !== texts.length || t.chunks !== texts.length) {
      throw new Error(
        `Bench runs disagree on the chunks: pipeline ${p.chunks}, naive ${n.chunks}, embedder ${texts.length}`,
      );
    }
    chunks = p.chunks;
    wallRatios.push(e.seconds / p.seconds);
    cpuRatios.push(cpuTotal(e.cpu) / cpuTotal(p.cpu));
    machineCpuRatios.push(e.cpu.machine / p.cpu.machine);
    shapedRatios.push(eb.seconds / p.seconds);
    shapedCpuRatios.push(cpuTotal(eb.cpu) / cpuTotal(p.cpu));
    pipelineBatches = shaped.map((b) => b.length);
    best = {
      pipeline: Math.min(best.pipeline, p.seconds),
      embedder: Math.min(best.embedder, e.seconds),
      naive: Math.min(best.naive, n.seconds),
      today: Math.min(best.today, t.seconds),
      busy: p.seconds < best.pipeline ? p.busy : best.busy,
    };
    console.log(JSON.stringify({
      round: r + 1,
      documents: docCount,
      chunks,
      pipeline_s: Number(p.seconds.toFixed(3)),
      embedder_only_s: Number(e.seconds.toFixed(3)),
      naive_s: Number(n.seconds.toFixed(3)),
      today_s: Number(t.seconds.toFixed(3)),
      embedder_busy: Number(p.busy.toFixed(3)),
      sessions_busy: Number(p.sessionsBusy.toFixed(3)),
      embedder_only_sessions_busy: Number(eSessionsBusy.toFixed(3)),
      lead_s: Number(p.leadS.toFixed(3)),
      tail_s: Number(p.tailS.toFixed(3)),
      pipeline_cpu: p.cpu,
      embedder_only_cpu: e.cpu,
      services_cpu_s: Number((p.cpu.machine - cpuTotal(p.cpu)).toFixed(3)),
      embedder_only_services_cpu_s: Number((e.cpu.machine - cpuTotal(e.cpu)).toFixed(3)),
      same_batches_s: Number(eb.seconds.toFixed(3)),
      same_batches_cpu: eb.cpu,
      pipeline_batches: pipelineBatches,
      lexical_s: Number(lx.seconds.toFixed(3)),
      without_lexical_s: Number(bare.seconds.toFixed(3)),
      lexical_cpu_s: Number(cpuTotal(lx.cpu).toFixed(3)),
      without_lexical_cpu_s: Number(cpuTotal(bare.cpu).toFixed(3)),
    }));
  }
  const rate = (s: number) => Number((chunks / s).toFixed(2));
  const summary = {
    bench: "ingest",
    chunks_per_s: rate(best.pipeline),
    embedder_only_chunks_per_s: rate(best.embedder),
    efficiency: Number((best.embedder / best.pipeline).toFixed(3)),
    efficiency_median: Number(median(wallRatios).toFixed(3)),
    efficiency_cpu: Number(median(cpuRatios).toFixed(3)),
    efficiency_machine_cpu: Number(median(machineCpuRatios).toFixed(3)),
    efficiency_same_batches: Number(median(shapedRatios).toFixed(3)),
    efficiency_same_batches_cpu: Number(median(shapedCpuRatios).toFixed(3)),
    vs_naive: Number((best.naive / best.pipeline).toFixed(3)),
    today_chunks_per_s: rate(best.today),
    vs_today: Number((best.today / best.pipeline).toFixed(3)),
    lexical_overhead: Number(median(lexicalWall).toFixed(3)),
    lexical_overhead_cpu: Number(median(lexicalCpu).toFixed(3)),
    precision: embedder.precision,
    vector_store: config.vectorDatabaseUrl
      ? "pgvector (VECTOR_DATABASE_URL)"
      : values.vectors === "server"
      ? "pgvector (pglite-server, own process)"
      : "pgvector (PGlite in process)",
    pgvector_indexing_threshold_kb: indexingThresholdKb,
    // A first index of this many chunks or more ends with an HNSW build.
    hnsw_from_chunks: indexedFromPoints(indexingThresholdKb, embedder.dimension),
  };
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/ingest.json",
    JSON.stringify(
      { ...summary, documents: docCount, chunks, rounds, device: config.embeddingDevice },
      null,
      2,
    ) + "\n",
  );
  console.log(JSON.stringify(summary));
} finally {
  await rt.close();
  await models.close();
  await todayModels.close();
  await store.close();
  await vectorDb?.close();
  await server?.stop();
  const redis = createRedis(config.redis, { name: "bench:cleanup" });
  await deleteByPrefix(redis, prefix).catch(() => {});
  redis.disconnect();
  await testDb?.cleanup();
  if (!testDb) await db.close();
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
}
