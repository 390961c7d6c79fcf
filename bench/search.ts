/**
 * `deno task bench:search`: search latency per mode (dense, lexical, hybrid) in the embedded
 * vector store (pgvector on an in-process PGlite) over generated collections of 10k and 50k
 * chunks, in one run, so the growth shows; dense is the baseline of the same run.
 *
 * - Corpus (`search_corpus.ts`): chunks of ~120 words drawn with Zipf frequencies, an identifier
 *   (`opt_<n>_<m>`) in one chunk of three, 384-dimension vectors around 64 centres; queries of two
 *   or three content words with an identifier in one of four, dense queries near a centre.
 * - Loading: the store's bulk load, as a collection's first index makes it: `ensureCollection`
 *   with `bulkLoad` (no HNSW index yet), the chunks written through the store's own `upsert`
 *   (batches of `--batch`, the tsvector and GIN entries as in production, then the store's
 *   analyze), then `finishBulkLoad` builds the HNSW index in one pass. So the rows, indexes and
 *   statistics are the real path's.
 * - Each mode runs the same `--queries` queries (k 10; hybrid lists 30 deep as the API's
 *   `fusionDepth`: `max(3k, 30)`, RRF k 60) after `--warmup` unmeasured ones, modes interleaved query by query;
 *   p50 and p99 of the wall time per mode and size, and of the process's CPU time (PGlite runs in
 *   this process, so CPU time is the query's own cost, less sensitive to a loaded machine).
 * - Query embedding is excluded from those figures and measured apart: the default model embeds
 *   `--embed-queries` query texts one by one (p50/p99).
 * - Lexical ingest overhead, the real upsert path (a store with its default batch size, HNSW index
 *   present): `--ingest-chunks` chunks upserted 250 at a time with their text into one collection
 *   and without it (no terms) into another, in turns so load from elsewhere hits both alike:
 *   (with - without) / without, of the wall time (the last line) and of the CPU time. This is the store's share; the whole pipeline (`bench:ingest`)
 *   spends most of its time embedding, so its overhead is smaller.
 *
 * Usage: deno task bench:search [--sizes 10000,50000] [--queries 200] [--warmup 20]
 *   [--embed-queries 50] [--ingest-chunks 2000] [--batch 1000] [--seed N] [--data-dir DIR]
 *
 * `--data-dir DIR` keeps the database in DIR: collections it already holds at the size asked are
 * searched without loading them again (the same seed makes the same chunks and queries).
 *
 * Last line: {"bench":"search","chunks":50000,"dense_p99_ms":..,"lexical_p99_ms":..,
 * "hybrid_p99_ms":..,"hybrid_vs_dense_p99":..,"lexical_ingest_overhead":..}
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  configureLogging,
  getLogger,
  loadConfig,
  ModelRegistry,
  openPglite,
  PgvectorStore,
} from "@semantik/shared";
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from "../shared/embedding/default_model.ts";
import { fusionDepth } from "../shared/vector/fusion.ts";
import { percentile, positiveArg } from "./_common.ts";
import { DIM, searchCorpus } from "./search_corpus.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "10000,50000" },
    queries: { type: "string", default: "200" },
    warmup: { type: "string", default: "20" },
    "embed-queries": { type: "string", default: "50" },
    "ingest-chunks": { type: "string", default: "2000" },
    batch: { type: "string", default: "1000" },
    seed: { type: "string", default: "7" },
    "data-dir": { type: "string" },
  },
});
const sizes = values.sizes!.split(",").map((s) => positiveArg("sizes", s));
const queryCount = positiveArg("queries", values.queries);
const warmup = positiveArg("warmup", values.warmup);
const embedQueries = positiveArg("embed-queries", values["embed-queries"]);
const ingestChunks = positiveArg("ingest-chunks", values["ingest-chunks"]);
const batch = positiveArg("batch", values.batch);
const seed = positiveArg("seed", values.seed);
const dataDir = values["data-dir"];

const K = 10;
/** Points per upsert in the ingest overhead measure (the store batches them by its default). */
const INGEST_SLICE = 250;

const round = (x: number, d = 2) => Number(x.toFixed(d));

/** The searched collections' chunks and queries; the ingest measure and query embedding draw apart. */
const corpus = searchCorpus(seed);
const ingestCorpus = searchCorpus(seed + 1);
const embedCorpus = searchCorpus(seed + 2);

configureLogging({ level: "warn" });
const log = getLogger("bench:search");
const config = loadConfig(Deno.env.toObject());

// Query embedding, apart.
await ensureDefaultModel(config.modelsDir, { log });
const registry = new ModelRegistry({ modelsDir: config.modelsDir, device: "cpu", log });
const embedMs: number[] = [];
try {
  const embedder = await registry.get(DEFAULT_MODEL_NAME);
  await embedder.embedTexts(["warm up the session"], "query");
  for (let i = 0; i < embedQueries; i++) {
    const text = embedCorpus.queryText();
    const t0 = performance.now();
    await embedder.embedTexts([text], "query");
    embedMs.push(performance.now() - t0);
  }
} finally {
  await registry.close();
}
embedMs.sort((a, b) => a - b);
const embedding = {
  p50_ms: round(percentile(embedMs, 50)),
  p99_ms: round(percentile(embedMs, 99)),
};
console.log(`query embedding (${DEFAULT_MODEL_NAME}, one at a time): ${JSON.stringify(embedding)}`);

/** CPU time of this process, in ms. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const db = await openPglite(dataDir ? { dataDir } : {});
const store = new PgvectorStore(db, { batchSize: batch });
type Row = {
  chunks: number;
  mode: string;
  p50_ms: number;
  p99_ms: number;
  cpu_p50_ms: number;
  cpu_p99_ms: number;
};
const rows: Row[] = [];
let ingestOverhead = NaN;

try {
  // Lexical ingest overhead through the real upsert path: the store with its default batch
  // size, HNSW index present, upserts of INGEST_SLICE points in turns.
  {
    const real = new PgvectorStore(db);
    const withName = "bench_ingest_text", bareName = "bench_ingest_bare";
    await real.ensureCollection(withName, DIM);
    await real.ensureCollection(bareName, DIM);
    const points = ingestCorpus.points(withName, ingestChunks, true);
    const spent = { with: { wall: 0, cpu: 0 }, without: { wall: 0, cpu: 0 } };
    const timed = async (into: { wall: number; cpu: number }, fn: () => Promise<void>) => {
      const c = cpuMs();
      const t = performance.now();
      await fn();
      into.wall += (performance.now() - t) / 1000;
      into.cpu += (cpuMs() - c) / 1000;
    };
    for (let i = 0, turn = 0; i < points.length; i += INGEST_SLICE, turn++) {
      const slice = points.slice(i, i + INGEST_SLICE);
      const bare = slice.map(({ text: _text, ...p }) => p);
      const runs = [
        () => timed(spent.with, () => real.upsert(withName, slice)),
        () => timed(spent.without, () => real.upsert(bareName, bare)),
      ];
      if (turn % 2 === 1) runs.reverse();
      for (const run of runs) await run();
    }
    ingestOverhead = (spent.with.wall - spent.without.wall) / spent.without.wall;
    const cpuOverhead = (spent.with.cpu - spent.without.cpu) / spent.without.cpu;
    console.log(
      `lexical ingest (real upsert path, ${ingestChunks} chunks, upserts of ${INGEST_SLICE}): ` +
        `with text ${spent.with.wall.toFixed(1)} s (CPU ${spent.with.cpu.toFixed(1)} s), ` +
        `without ${spent.without.wall.toFixed(1)} s (CPU ${spent.without.cpu.toFixed(1)} s): ` +
        `overhead ${(100 * ingestOverhead).toFixed(1)}% wall, ${
          (100 * cpuOverhead).toFixed(1)
        }% CPU`,
    );
    await real.drop(withName);
    await real.drop(bareName);
  }

  for (const size of sizes) {
    const name = `bench_search_${size}`;
    await store.ensureCollection(name, DIM, { bulkLoad: true });
    const points = corpus.points(name, size, true);
    if (dataDir && (await store.count(name)) === size) {
      // Loaded by an earlier run with --data-dir (the same seed, so the same chunks).
      console.log(`${size} chunks already loaded in ${dataDir}`);
    } else {
      await store.drop(name);
      // The store's bulk load, as a collection's first index makes it.
      await store.ensureCollection(name, DIM, { bulkLoad: true });
      const t0 = performance.now();
      await store.upsert(name, points);
      const upsertS = (performance.now() - t0) / 1000;
      await store.finishBulkLoad(name);
      const loadS = (performance.now() - t0) / 1000;
      console.log(
        `${size} chunks loaded in ${loadS.toFixed(1)} s (upsert ${upsertS.toFixed(1)} s, ` +
          `HNSW build ${(loadS - upsertS).toFixed(1)} s)`,
      );
    }
    const queries = corpus.queries(warmup + queryCount);
    type Q = (typeof queries)[number];
    const modes = {
      dense: (q: Q) => store.search(name, q.vector, { k: K }),
      lexical: (q: Q) => store.lexicalSearch(name, q.text, { k: K }),
      // The depth the API asks for (`fusionDepth`), not one of the bench's own.
      hybrid: (q: Q) =>
        store.hybridSearch(name, q.vector, q.text, { k: K, depth: fusionDepth(K), rrfK: 60 }),
    };
    const wall: Record<string, number[]> = { dense: [], lexical: [], hybrid: [] };
    const cpu: Record<string, number[]> = { dense: [], lexical: [], hybrid: [] };
    // Modes interleaved query by query, so load from elsewhere hits them alike.
    for (const [i, q] of queries.entries()) {
      for (const [mode, run] of Object.entries(modes)) {
        const c = cpuMs();
        const t = performance.now();
        await run(q);
        if (i >= warmup) {
          wall[mode]!.push(performance.now() - t);
          cpu[mode]!.push(cpuMs() - c);
        }
      }
    }
    for (const mode of Object.keys(modes)) {
      const xs = wall[mode]!.sort((a, b) => a - b);
      const cs = cpu[mode]!.sort((a, b) => a - b);
      rows.push({
        chunks: size,
        mode,
        p50_ms: round(percentile(xs, 50)),
        p99_ms: round(percentile(xs, 99)),
        cpu_p50_ms: round(percentile(cs, 50)),
        cpu_p99_ms: round(percentile(cs, 99)),
      });
      console.log(JSON.stringify(rows[rows.length - 1]));
    }
    if (!dataDir) await store.drop(name);
  }
} finally {
  await store.close();
  await db.close();
}

console.log(
  "\n| chunks | mode | p50 ms | p99 ms | p99 vs dense | CPU p50 ms | CPU p99 ms | CPU p99 vs dense |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const dense = rows.find((x) => x.chunks === r.chunks && x.mode === "dense")!;
  console.log(
    `| ${r.chunks} | ${r.mode} | ${r.p50_ms} | ${r.p99_ms} | ${round(r.p99_ms / dense.p99_ms)} ` +
      `| ${r.cpu_p50_ms} | ${r.cpu_p99_ms} | ${round(r.cpu_p99_ms / dense.cpu_p99_ms)} |`,
  );
}
const largest = Math.max(...sizes);
const at = (mode: string) => rows.find((r) => r.chunks === largest && r.mode === mode)!;
console.log(JSON.stringify({
  bench: "search",
  chunks: largest,
  dense_p99_ms: at("dense").p99_ms,
  lexical_p99_ms: at("lexical").p99_ms,
  hybrid_p99_ms: at("hybrid").p99_ms,
  hybrid_vs_dense_p99: round(at("hybrid").p99_ms / at("dense").p99_ms),
  lexical_ingest_overhead: round(ingestOverhead, 3),
}));
