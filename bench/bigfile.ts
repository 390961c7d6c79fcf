/**
 * `deno task bench:bigfile`: peak memory (RSS) of indexing one large generated text file through
 * the indexing pipeline (extract -> chunk -> embed -> write), the whole-file way (`before`: the
 * file read whole, its text chunked whole, every chunk queued) against the streamed way
 * (`after`: read, decoded and chunked a window at a time, embedded and written in bounded
 * batches), each in a fresh process so each peak is its own. The model is loaded and its
 * tokenizer does the chunking's counting; the vector store and the sink only count what they are
 * given, so the figures are the worker's own.
 *
 * `--embed real` runs the model on every chunk. The default, `--embed skip`, gives each chunk a
 * zero vector instead: on a 2-core machine MiniLM embeds about 30 chunks/s, so the 78,000
 * chunks of 45 MiB would take 45 minutes per run, while what grows with the file (extraction,
 * chunking, batching) is the same either way. The model's own share is `model_rss_mb` (the
 * peak after loading it and embedding one text).
 *
 * Usage: deno task bench:bigfile [--mb 45] [--embed skip|real] [--model NAME|tiny]
 *   [--device cpu] [--seed 1] [--modes before,after]
 *
 * Last line: {"bench":"bigfile","mb":..,"before_peak_rss_mb":..,"after_peak_rss_mb":..,
 * "after_vs_before":..,"model_rss_mb":..}
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, ModelRegistry, type VectorStore } from "@semantik/shared";
import { documentIdFor, type DocumentOutcome, IndexingPipeline } from "../worker/indexing/mod.ts";
import { TINY_MODEL_NAME, writeTinyModel } from "@semantik/shared/testing";
import { BENCH_WORDS, positiveArg, seededRandom } from "./_common.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    mb: { type: "string", default: "45" },
    model: { type: "string" },
    device: { type: "string", default: "cpu" },
    embed: { type: "string", default: "skip" },
    modes: { type: "string", default: "before,after" },
    seed: { type: "string", default: "1" },
    child: { type: "string" },
    file: { type: "string" },
    "models-dir": { type: "string" },
  },
});

function peakRssMb(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

if (args.values.child) {
  // One measurement, in a process of its own.
  const mode = args.values.child;
  const file = args.values.file!;
  const models = new ModelRegistry({
    modelsDir: args.values["models-dir"]!,
    device: args.values.device as "cpu",
  });
  const model = await models.get(args.values.model!);
  await model.embedTexts(["warm up"], "document");
  const embedder = args.values.embed === "real" ? model : {
    countTokens: (text: string) => model.countTokens(text),
    embedTexts: (texts: string[]) =>
      Promise.resolve(texts.map(() => new Float32Array(model.dimension))),
  };
  const modelRss = peakRssMb();
  let points = 0;
  const vectors = {
    deleteByDocument: () => Promise.resolve(),
    upsert: (_name: string, p: unknown[]) => {
      points += p.length;
      return Promise.resolve();
    },
  } as unknown as VectorStore;
  const outcomes: string[] = [];
  const progress: string[] = [];
  const root = join(file, "..");
  const pipeline = new IndexingPipeline({
    vectors,
    embedder,
    sink: {
      collectionId: "00000000-0000-4000-8000-000000000000",
      generation: 1,
      vectorCollection: "bench",
      record(o: readonly DocumentOutcome[]) {
        outcomes.push(...o.map((x) => x.kind === "completed" ? `completed` : x.kind));
        return Promise.resolve();
      },
      discardUnrecorded: () => Promise.resolve(),
    },
    chunkSize: 200,
    chunkOverlap: 40,
    maxFileSizeBytes: 1 << 30,
    documentRoots: [root],
    // before: never stream; after: the pipeline's default.
    ...(mode === "before" ? { streamTextAboveBytes: Number.MAX_SAFE_INTEGER } : {}),
    onDocumentProgress(p: { message: string }) {
      progress.push(p.message);
    },
  });
  const started = performance.now();
  const size = (await Deno.stat(file)).size;
  await pipeline.add({
    ref: {
      id: documentIdFor("00000000-0000-4000-8000-000000000000", file),
      uri: file,
      sourceId: null,
      change: "added",
      mayHavePoints: false,
      isNew: true,
    },
    path: file,
    sizeBytes: size,
    mtimeMs: null,
    verifyHash: null,
  });
  await pipeline.finish();
  const seconds = (performance.now() - started) / 1000;
  await models.close();
  console.log(JSON.stringify({
    mode,
    peak_rss_mb: peakRssMb(),
    model_rss_mb: modelRss,
    chunks: points,
    outcomes,
    seconds: Math.round(seconds),
    progress_messages: progress.length,
    last_progress: progress.at(-1) ?? null,
  }));
  Deno.exit(0);
}

const mb = positiveArg("mb", args.values.mb);
const seed = positiveArg("seed", args.values.seed);
const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-bench-bigfile-" }));
try {
  let modelsDir: string;
  let model = args.values.model;
  if (model === "tiny") {
    modelsDir = join(dir, "models");
    await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")));
    model = TINY_MODEL_NAME;
  } else {
    const config = loadConfig(Deno.env.toObject());
    modelsDir = config.modelsDir;
    model ??= config.defaultEmbeddingModel;
  }
  const file = join(dir, "huge.txt");
  await writeText(file, mb * 1024 * 1024, seed);
  console.log(`generated ${file}: ${mb} MiB; model ${model}; embed ${args.values.embed}`);
  const results: Record<string, { peak_rss_mb: number; model_rss_mb: number; chunks: number }> = {};
  for (const mode of args.values.modes!.split(",")) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        "--child",
        mode,
        "--file",
        file,
        "--model",
        model,
        "--models-dir",
        modelsDir,
        "--device",
        args.values.device!,
        "--embed",
        args.values.embed!,
      ],
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) throw new Error(`the ${mode} run failed: ${text}`);
    const line = JSON.parse(text.split("\n").at(-1)!);
    console.log(JSON.stringify(line));
    results[mode] = line;
  }
  const before = results.before ?? results.after!;
  const after = results.after ?? results.before!;
  console.log(JSON.stringify({
    bench: "bigfile",
    mb,
    embed: args.values.embed,
    chunks: after.chunks,
    before_peak_rss_mb: before.peak_rss_mb,
    after_peak_rss_mb: after.peak_rss_mb,
    after_vs_before: Math.round((after.peak_rss_mb / before.peak_rss_mb) * 100) / 100,
    model_rss_mb: after.model_rss_mb,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}

/** Paragraphs of common words, written a block at a time. */
async function writeText(path: string, bytes: number, seed: number): Promise<void> {
  const rand = seededRandom(seed);
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let written = 0;
  while (written < bytes) {
    const lines: string[] = [];
    for (let p = 0; p < 200; p++) {
      const words = Array.from(
        { length: 20 + Math.floor(rand() * 120) },
        () => BENCH_WORDS[Math.floor(rand() * BENCH_WORDS.length)]!,
      );
      lines.push(words.join(" ") + ".");
    }
    let block = encoder.encode(lines.join("\n\n") + "\n\n");
    if (written + block.length > bytes) block = block.subarray(0, bytes - written);
    await file.write(block);
    written += block.length;
  }
}
