/**
 * `deno task bench:embed`: CPU embedding throughput of the default model, same texts (mixed
 * lengths, like chunks), one process, each figure the best of `--rounds` alternating rounds after
 * an untimed one, with the process's CPU seconds beside the wall time (on a shared machine CPU
 * seconds per text are the steadier figure):
 *
 * - ours at int8 and at fp32 (threads: the cores available; batch budget: the CPU default);
 * - today's default before this work: fp32, one thread, budget 4096 (`vs_today`);
 * - one text at a time (int8; `vs_single`);
 * - one session with a thread per core, the default before sessions side by side
 *   (`sessions_ratio`, `sessions_ratio_fp32`);
 * - naive fixed batches of 32 in input order (int8; today's `ratio`);
 * - the peer, `@huggingface/transformers`, on the same ONNX files at the same precision and
 *   threads, at its best batch size among 1, 4 and 16 (`vs_peer_fp32`, `vs_peer_int8`);
 * - spinning on against off, one thread against all, and token budgets 256 to 4096 (int8);
 * - a ceiling: onnxruntime's tokens/s on the model's matrix products alone
 *   (`ceiling_fraction` = ours int8 tokens/s over the int8 ceiling).
 *
 * Usage: deno task bench:embed [--texts N] [--rounds N] [--skip-peer]
 *
 * Last line: {"bench":"embed","budget_texts_per_s","naive_texts_per_s","ratio","int8_vs_fp32",
 * "vs_peer_fp32","vs_peer_int8","vs_single","vs_today","ceiling_fraction","threads",...}
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { BENCH_WORDS, positiveArg, seededRandom } from "./_common.ts";
import { openCeiling } from "./embed_ceiling.ts";
import { openPeer } from "./embed_peer.ts";
import { loadConfigOrExit } from "../shared/config/config.ts";
import { configureLogging, getLogger } from "../shared/log/logger.ts";
import { availableCpus } from "../shared/embedding/cpu_threads.ts";
import {
  DEFAULT_MODEL_NAME,
  defaultModelDir,
  ensureDefaultModel,
} from "../shared/embedding/default_model.ts";
import type { Embedder } from "../shared/embedding/embedder.ts";
import {
  CPU_BATCH_TOKENS,
  defaultCpuSessions,
  ModelRegistry,
} from "../shared/embedding/model_registry.ts";
import type { Precision } from "../shared/embedding/precision.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    texts: { type: "string", default: "64" },
    rounds: { type: "string", default: "2" },
    "skip-peer": { type: "boolean", default: false },
  },
});
const textCount = positiveArg("texts", values.texts);
const rounds = positiveArg("rounds", values.rounds);

/** A text of exactly `tokens` content tokens. */
function textOf(embedder: Embedder, tokens: number, next: () => number): string {
  const words: string[] = [];
  for (let i = 0; i < tokens; i++) {
    words.push(BENCH_WORDS[Math.floor(next() * BENCH_WORDS.length)]!);
  }
  const text = words.join(" ");
  const counted = embedder.countTokens(text);
  if (counted !== tokens) {
    throw new Error(`Cannot build bench text: wanted ${tokens} tokens, got ${counted}`);
  }
  return text;
}

interface Measure {
  seconds: number;
  cpuSeconds: number;
}

async function timed(fn: () => Promise<unknown>): Promise<Measure> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await fn();
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
}

const config = loadConfigOrExit();
configureLogging({ level: "warn" });
const log = getLogger("bench:embed");
await ensureDefaultModel(config.modelsDir, { log });
const threads = availableCpus();
const registries: ModelRegistry[] = [];
async function embedder(
  precision: Precision,
  options: { sessions?: number; threads?: number; budget?: number; spin?: boolean } = {},
): Promise<Embedder> {
  // As the worker runs them: sessions in worker threads, as many as the product's default.
  const registry = new ModelRegistry({
    modelsDir: config.modelsDir,
    device: "cpu",
    log,
    sessions: options.sessions,
    intraOpNumThreads: options.threads,
    allowSpinning: options.spin ?? false,
    maxBatchTokens: options.budget,
  });
  registries.push(registry);
  return await registry.get(DEFAULT_MODEL_NAME, { precision });
}

try {
  const int8 = await embedder("int8");
  const next = seededRandom(42);
  const contentMax = int8.maxChunkTokens;
  const lengths = Array.from(
    { length: textCount },
    () => 16 + Math.floor(next() * (contentMax - 15)),
  );
  const texts = lengths.map((n) => textOf(int8, n, next));
  const special = int8.maxTokens - contentMax;
  const tokens = lengths.reduce((a, n) => a + n + special, 0);

  const cases: Record<string, () => Promise<unknown>> = {};
  const add = (name: string, fn: () => Promise<unknown>) => cases[name] = fn;
  const batched = (e: Embedder) => () => e.embedTexts(texts, "document");
  add("ours_int8", batched(int8));
  add("ours_fp32", batched(await embedder("fp32")));
  add(
    "today_fp32_1thread_4096",
    batched(await embedder("fp32", { sessions: 1, threads: 1, budget: 4096 })),
  );
  // The default before sessions side by side: one session with a thread per core.
  add("int8_1session", batched(await embedder("int8", { sessions: 1 })));
  add("fp32_1session", batched(await embedder("fp32", { sessions: 1 })));
  add("single_int8", async () => {
    for (const t of texts) await int8.embedTexts([t], "document");
  });
  add("naive32_int8", async () => {
    for (let i = 0; i < texts.length; i += 32) {
      await int8.embedTexts(texts.slice(i, i + 32), "document");
    }
  });
  add("int8_spin", batched(await embedder("int8", { spin: true })));
  add("int8_1thread", batched(await embedder("int8", { sessions: 1, threads: 1 })));
  for (const budget of [256, 1024, 4096]) {
    add(`int8_budget_${budget}`, batched(await embedder("int8", { budget })));
  }
  // The ceiling: the matrix products of as many tokens as the texts have, in budget-sized runs.
  const ceilings = [];
  for (const precision of ["int8", "fp32"] as const) {
    const ceiling = await openCeiling(precision, threads, CPU_BATCH_TOKENS);
    ceilings.push(ceiling);
    add(`ceiling_${precision}`, async () => {
      for (let done = 0; done < tokens; done += ceiling.tokens) await ceiling.run();
    });
  }
  const peers = [];
  if (!values["skip-peer"]) {
    for (const precision of ["fp32", "int8"] as const) {
      const peer = await openPeer(defaultModelDir(config.modelsDir), precision, threads);
      peers.push(peer);
      for (const size of [1, 4, 16]) {
        add(`peer_${precision}_batch_${size}`, () => peer.embed(texts, size));
      }
    }
  }

  // Untimed first runs (arena sizing, shapes), then alternating rounds; each case's best.
  for (const fn of Object.values(cases)) await fn();
  const best = new Map<string, Measure>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(cases)) {
      const m = await timed(fn);
      const prev = best.get(name);
      best.set(name, {
        seconds: Math.min(prev?.seconds ?? Infinity, m.seconds),
        cpuSeconds: Math.min(prev?.cpuSeconds ?? Infinity, m.cpuSeconds),
      });
    }
  }
  for (const p of peers) await p.close();
  for (const c of ceilings) await c.close();

  const rate = (name: string) => texts.length / best.get(name)!.seconds;
  const cpuPerText = (name: string) => best.get(name)!.cpuSeconds / texts.length;
  const results = Object.fromEntries(
    [...best.keys()].map((name) => [name, {
      texts_per_s: Number(rate(name).toFixed(2)),
      tokens_per_s: Math.round(tokens / best.get(name)!.seconds),
      cpu_ms_per_text: Number((cpuPerText(name) * 1000).toFixed(2)),
    }]),
  );
  for (const [name, r] of Object.entries(results)) {
    console.log(JSON.stringify({ case: name, ...r }));
  }

  const peerBest = (precision: string) => {
    const names = [...best.keys()].filter((n) => n.startsWith(`peer_${precision}_`));
    if (names.length === 0) return undefined;
    return names.reduce((a, b) => rate(a) >= rate(b) ? a : b);
  };
  // The same ratios from CPU seconds per text: on a shared machine wall time measures the
  // neighbours as much as this code; CPU time (all threads of this process) much less.
  const cpu = (name: string) => cpuPerText(name);
  const peerBestCpu = (precision: string) => {
    const names = [...best.keys()].filter((n) => n.startsWith(`peer_${precision}_`));
    if (names.length === 0) return undefined;
    return names.reduce((a, b) => cpu(a) <= cpu(b) ? a : b);
  };
  const cpuRatio = (a: string, b: string | undefined) =>
    b === undefined ? null : Number((cpu(b) / cpu(a)).toFixed(3));
  const cpuRatios = {
    int8_vs_fp32: cpuRatio("ours_int8", "ours_fp32"),
    vs_peer_fp32: cpuRatio("ours_fp32", peerBestCpu("fp32")),
    vs_peer_int8: cpuRatio("ours_int8", peerBestCpu("int8")),
    vs_single: cpuRatio("ours_int8", "single_int8"),
    vs_today: cpuRatio("ours_int8", "today_fp32_1thread_4096"),
  };
  const ceilingTokens = Math.ceil(tokens / CPU_BATCH_TOKENS) * CPU_BATCH_TOKENS;
  // Ours tokens per CPU second over the ceiling's (which runs whole budgets of tokens).
  Object.assign(cpuRatios, {
    ceiling_fraction: Number(
      ((cpu("ceiling_int8") * tokens / ceilingTokens) / cpu("ours_int8")).toFixed(3),
    ),
  });
  const ceilingInt8 = ceilingTokens / best.get("ceiling_int8")!.seconds;
  const ceilingFp32 = ceilingTokens / best.get("ceiling_fp32")!.seconds;
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  const peerFp32 = peerBest("fp32");
  const peerInt8 = peerBest("int8");
  const summary = {
    bench: "embed",
    budget_texts_per_s: Number(rate("ours_int8").toFixed(2)),
    naive_texts_per_s: Number(rate("naive32_int8").toFixed(2)),
    ratio: ratio(rate("ours_int8"), rate("naive32_int8")),
    int8_vs_fp32: ratio(rate("ours_int8"), rate("ours_fp32")),
    vs_peer_fp32: peerFp32 ? ratio(rate("ours_fp32"), rate(peerFp32)) : null,
    vs_peer_int8: peerInt8 ? ratio(rate("ours_int8"), rate(peerInt8)) : null,
    peer_best_batch: { fp32: peerFp32 ?? null, int8: peerInt8 ?? null },
    vs_single: ratio(rate("ours_int8"), rate("single_int8")),
    vs_today: ratio(rate("ours_int8"), rate("today_fp32_1thread_4096")),
    spin_ratio: ratio(rate("int8_spin"), rate("ours_int8")),
    threads_ratio: ratio(rate("ours_int8"), rate("int8_1thread")),
    sessions_ratio: ratio(rate("ours_int8"), rate("int8_1session")),
    sessions_ratio_fp32: ratio(rate("ours_fp32"), rate("fp32_1session")),
    ceiling_int8_tokens_per_s: Math.round(ceilingInt8),
    ceiling_fp32_tokens_per_s: Math.round(ceilingFp32),
    ceiling_fraction: ratio(tokens / best.get("ours_int8")!.seconds, ceilingInt8),
    ceiling_fraction_fp32: ratio(tokens / best.get("ours_fp32")!.seconds, ceilingFp32),
    by_cpu_time: cpuRatios,
    int8_cpu_ms_per_text: results.ours_int8!.cpu_ms_per_text,
    fp32_cpu_ms_per_text: results.ours_fp32!.cpu_ms_per_text,
    threads,
    sessions: defaultCpuSessions(threads),
    budget: CPU_BATCH_TOKENS,
    texts: texts.length,
    tokens,
    rounds,
  };
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/embed.json",
    JSON.stringify({ ...summary, cases: results }, null, 2) + "\n",
  );
  console.log(JSON.stringify(summary));
} finally {
  for (const r of registries) await r.close();
}
