import assert from "node:assert/strict";
import { join } from "node:path";
import { AppError, RetryLaterError } from "../errors.ts";
import { DEFAULT_MODEL_NAME } from "./default_model.ts";
import type { DeviceEnvironment } from "./device_selector.ts";
import { parseNvidiaSmiMemory } from "./gpu_memory.ts";
import {
  type InferenceRunner,
  InlineInferenceRunner,
  type RunnerOptions,
} from "./inference_runner.ts";
import { availableCpus } from "./cpu_threads.ts";
import { MODEL_CONFIG_FILE } from "./model_config.ts";
import { defaultCpuSessions, ModelRegistry, type ModelRegistryOptions } from "./model_registry.ts";
import { buildTinyModel, TINY_MODEL_NAME, writeTinyModel } from "./tiny_model.ts";
import { waitFor } from "../testing/wait.ts";

const NO_GPU: DeviceEnvironment = {
  cudaProviderInstalled: () => Promise.resolve(false),
  gpus: () => Promise.resolve(undefined),
  cudaVisibleDevices: undefined,
};

async function withModelsDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyModel(join(dir, ...TINY_MODEL_NAME.split("/")), { documentPrefix: "d: " });
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A host with the CUDA provider and one GPU, as nvidia-smi's `line` describes it. */
function oneGpu(line: string): DeviceEnvironment {
  return {
    cudaProviderInstalled: () => Promise.resolve(true),
    gpus: () => Promise.resolve(parseNvidiaSmiMemory(line + "\n")),
    cudaVisibleDevices: undefined,
  };
}

async function withRegistry(
  fn: (registry: ModelRegistry, dir: string) => Promise<void>,
  options: Partial<ModelRegistryOptions> = {},
): Promise<void> {
  await withModelsDir(async (dir) => {
    const registry = new ModelRegistry({
      modelsDir: dir,
      device: "cpu",
      thread: "main",
      deviceEnvironment: NO_GPU,
      // One session per model unless a test asks for more (the default depends on the cores).
      sessions: 1,
      ...options,
    });
    try {
      await fn(registry, dir);
    } finally {
      await registry.close();
    }
  });
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, message: RegExp) {
  const err = await promise.then(() => assert.fail("expected an AppError"), (e) => e);
  assert.ok(err instanceof AppError, `expected AppError, got ${err}`);
  assert.equal(err.code, code);
  assert.equal(err.status, 422);
  assert.match(err.message, message);
}

Deno.test("resolve() describes a model directory without loading it", async () => {
  await withRegistry(async (registry, dir) => {
    const info = await registry.resolve(TINY_MODEL_NAME);
    assert.deepEqual(info, {
      name: TINY_MODEL_NAME,
      dir: join(dir, "test", "tiny-bert"),
      dimension: 32,
      maxTokens: 32,
      maxChunkTokens: 28,
      pooling: "mean",
      normalize: true,
      queryPrefix: "",
      documentPrefix: "d: ",
      precisions: ["fp32"],
      ready: true,
    });
  });
});

Deno.test("unknown models are an unknown_model error, in resolve() and get()", async () => {
  await withRegistry(async (registry) => {
    await rejectsWithCode(registry.resolve("nobody/nothing"), "unknown_model", /nobody\/nothing/);
    await rejectsWithCode(registry.get("nobody/nothing"), "unknown_model", /nobody\/nothing/);
    for (const bad of ["../etc", "a/../../b", "/abs", "a/b/c", "", ".hidden"]) {
      await rejectsWithCode(registry.resolve(bad), "unknown_model", /Unknown embedding model/);
    }
    await rejectsWithCode(
      registry.get(42 as unknown as string),
      "unknown_model",
      /Unknown embedding model: 42/,
    );
  });
});

Deno.test("a model directory with a broken config is an unknown_model error naming the problem", async () => {
  await withRegistry(async (registry, dir) => {
    const broken = join(dir, "broken");
    await Deno.mkdir(broken);
    await Deno.writeTextFile(join(broken, MODEL_CONFIG_FILE), JSON.stringify({ dimension: -1 }));
    await Deno.writeTextFile(join(broken, "tokenizer.json"), "{}");
    await rejectsWithCode(
      registry.get("broken"),
      "unknown_model",
      /broken is unusable: .*dimension/,
    );

    const noOnnx = join(dir, "no-onnx");
    await writeTinyModel(noOnnx);
    await Deno.remove(join(noOnnx, "model.onnx"));
    await rejectsWithCode(registry.resolve("no-onnx"), "unknown_model", /missing model.onnx/);

    const badOnnx = join(dir, "bad-onnx");
    await writeTinyModel(badOnnx);
    await Deno.writeTextFile(join(badOnnx, "model.onnx"), "not a model");
    await rejectsWithCode(registry.get("bad-onnx"), "unknown_model", /bad-onnx is unusable/);
  });
});

Deno.test("get() loads one session per model and shares it between concurrent callers", async () => {
  let opened = 0;
  await withRegistry(async (registry) => {
    const [a, b] = await Promise.all([
      registry.get(TINY_MODEL_NAME),
      registry.get(TINY_MODEL_NAME),
    ]);
    assert.equal(a, b);
    assert.equal(await registry.get(TINY_MODEL_NAME), a);
    assert.equal(opened, 1);
    assert.equal(a.model, TINY_MODEL_NAME);
    assert.equal(a.dimension, 32);
    assert.equal(a.maxChunkTokens, 28);
    assert.equal(a.countTokens("abc de"), 5);
    const [v] = await a.embedTexts(["hello"], "query");
    assert.equal(v!.length, 32);
  }, {
    openRunner: (path: string, options: RunnerOptions) => {
      opened++;
      return InlineInferenceRunner.open(path, options);
    },
  });
});

Deno.test("a failed load is not cached: the next get() tries again", async () => {
  let attempts = 0;
  await withRegistry(async (registry) => {
    await assert.rejects(registry.get(TINY_MODEL_NAME), RetryLaterError);
    const embedder = await registry.get(TINY_MODEL_NAME);
    assert.equal(embedder.dimension, 32);
    assert.equal(attempts, 2);
  }, {
    openRunner: (path: string, options: RunnerOptions) => {
      attempts++;
      if (attempts === 1) return Promise.reject(new RetryLaterError("busy", 10));
      return InlineInferenceRunner.open(path, options);
    },
  });
});

Deno.test("short GPU memory makes get() throw RetryLaterError for the queue", async () => {
  await withRegistry(async (registry) => {
    const err = await registry.get(TINY_MODEL_NAME).then(() => assert.fail("loaded"), (e) => e);
    assert.ok(err instanceof RetryLaterError, String(err));
    assert.equal(err.delayMs, 5000);
  }, {
    device: "auto",
    retryDelayMs: 5000,
    deviceEnvironment: oneGpu("0, GPU-1, 24000, 23900, 100, Busy GPU"),
  });
});

Deno.test("the worker-thread runner embeds like the inline one and closes cleanly", async () => {
  await withModelsDir(async (dir) => {
    const inline = new ModelRegistry({ modelsDir: dir, device: "cpu", thread: "main" });
    const worker = new ModelRegistry({ modelsDir: dir, device: "cpu", thread: "worker" });
    try {
      const texts = ["alpha beta", "", "gamma delta epsilon zeta eta theta"];
      const a = await (await inline.get(TINY_MODEL_NAME)).embedTexts(texts, "document");
      const embedder = await worker.get(TINY_MODEL_NAME);
      const b = await embedder.embedTexts(texts, "document");
      a.forEach((v, i) => assert.deepEqual([...v], [...b[i]!]));
      // Several job slots may embed at once through one session.
      const together = await Promise.all([
        embedder.embedTexts(texts, "document"),
        embedder.embedTexts([...texts].reverse(), "document"),
        embedder.embedTexts(texts.slice(0, 1), "document"),
      ]);
      // Batch shapes differ from the first call's, so allow float rounding.
      const close = (x: Float32Array, y: Float32Array) =>
        x.every((value, k) => Math.abs(value - y[k]!) < 1e-5);
      together[0].forEach((v, i) => assert.ok(close(v, a[i]!)));
      together[1].forEach((v, i) => assert.ok(close(v, a[texts.length - 1 - i]!)));
      assert.ok(close(together[2][0]!, a[0]!));
    } finally {
      await inline.close();
      await worker.close();
      await worker.close();
    }
    await assert.rejects(worker.get(TINY_MODEL_NAME), /registry is closed/);
  });
});

Deno.test("list() finds model directories one and two levels deep, and the default model", async () => {
  await withRegistry(async (registry, dir) => {
    await writeTinyModel(join(dir, "flat-model"));
    await Deno.mkdir(join(dir, "empty-org", "not-a-model"), { recursive: true });
    const names = (await registry.list()).map((m) => m.name);
    assert.deepEqual(names, ["flat-model", DEFAULT_MODEL_NAME, TINY_MODEL_NAME].sort());
  });
});

Deno.test("the default model is known before its conversion", async () => {
  await withRegistry(async (registry, dir) => {
    const info = await registry.resolve(DEFAULT_MODEL_NAME);
    assert.equal(info.ready, false);
    assert.equal(info.dimension, 384);
    assert.equal(info.maxTokens, 256);
    assert.equal(info.maxChunkTokens, 254);
    assert.equal(info.dir, join(dir, "sentence-transformers", "all-MiniLM-L6-v2"));
  });
});

Deno.test("a sentence-transformers ONNX export without embedding.json is usable", async () => {
  await withRegistry(async (registry, dir) => {
    const st = join(dir, "org", "st-export");
    const files = buildTinyModel();
    await Deno.mkdir(join(st, "onnx"), { recursive: true });
    await Deno.mkdir(join(st, "1_Pooling"));
    await Deno.writeFile(join(st, "onnx", "model.onnx"), files.onnx);
    await Deno.writeTextFile(join(st, "tokenizer.json"), files.tokenizerJson);
    await Deno.writeTextFile(join(st, "config.json"), JSON.stringify({ hidden_size: 32 }));
    await Deno.writeTextFile(
      join(st, "sentence_bert_config.json"),
      JSON.stringify({ max_seq_length: 24 }),
    );
    await Deno.writeTextFile(
      join(st, "modules.json"),
      JSON.stringify([
        { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
        { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
        { idx: 2, name: "2", path: "2_Normalize", type: "sentence_transformers.models.Normalize" },
      ]),
    );
    await Deno.writeTextFile(
      join(st, "1_Pooling", "config.json"),
      JSON.stringify({ word_embedding_dimension: 32, pooling_mode_mean_tokens: true }),
    );
    await Deno.writeTextFile(
      join(st, "config_sentence_transformers.json"),
      JSON.stringify({ prompts: { query: "query: ", document: "" } }),
    );
    const info = await registry.resolve("org/st-export");
    assert.equal(info.maxTokens, 24);
    assert.equal(info.queryPrefix, "query: ");
    assert.equal(info.normalize, true);
    const embedder = await registry.get("org/st-export");
    const tiny = await registry.get(TINY_MODEL_NAME);
    // Same weights; the tiny directory adds a "d: " document prefix, so compare queries.
    const [a] = await embedder.embedTexts(["hello"], "document");
    const [b] = await tiny.embedTexts(["query: hello"], "query");
    assert.ok(a!.some((x, i) => Math.abs(x - b![i]!) > 1e-3));
    const [c] = await embedder.embedTexts(["hello"], "query");
    assert.ok(c!.every((x, i) => Math.abs(x - b![i]!) < 1e-5));
  });
});

Deno.test("get() runs the precision asked for, and auto means int8 on the CPU when the model has it", async () => {
  const dir = await Deno.makeTempDir();
  const opened: string[] = [];
  const registry = new ModelRegistry({
    modelsDir: dir,
    device: "cpu",
    thread: "main",
    deviceEnvironment: NO_GPU,
    sessions: 1,
    openRunner: (path: string, options: RunnerOptions) => {
      opened.push(path.slice(path.lastIndexOf("/") + 1));
      return InlineInferenceRunner.open(path, options);
    },
  });
  try {
    await writeTinyModel(join(dir, ...TINY_MODEL_NAME.split("/")), { int8: true });
    assert.deepEqual((await registry.resolve(TINY_MODEL_NAME)).precisions, ["fp32", "int8"]);
    const auto = await registry.get(TINY_MODEL_NAME);
    assert.equal(auto.precision, "int8");
    // The default and its precision share one session.
    assert.equal(await registry.get(TINY_MODEL_NAME, { precision: "int8" }), auto);
    const fp32 = await registry.get(TINY_MODEL_NAME, { precision: "fp32" });
    assert.equal(fp32.precision, "fp32");
    assert.deepEqual(opened, ["model_int8.onnx", "model.onnx"]);
    const [a] = await auto.embedTexts(["hello world"], "document");
    const [b] = await fp32.embedTexts(["hello world"], "document");
    assert.notDeepEqual(a, b, "the int8 graph is a different graph");
    let dot = 0;
    for (let i = 0; i < a!.length; i++) dot += a![i]! * b![i]!;
    assert.ok(dot > 0.9, `int8 and fp32 vectors agree roughly: cosine ${dot}`);
    await assert.rejects(
      registry.get(TINY_MODEL_NAME, { precision: "fp16" }),
      (err: unknown) => err instanceof AppError && err.code === "unknown_model",
    );
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a model without the precision setting's graph runs fp32; an explicit setting too", async () => {
  await withRegistry(async (registry) => {
    assert.equal((await registry.get(TINY_MODEL_NAME)).precision, "fp32");
  }, { precision: "int8" });
});

/** A runner on the CPU that says it runs on `provider` (a GPU the test pretends to have). */
async function runnerOn(path: string, options: RunnerOptions): Promise<InferenceRunner> {
  const inner = await InlineInferenceRunner.open(path, { ...options, provider: "cpu" });
  return {
    inputNames: inner.inputNames,
    outputNames: inner.outputNames,
    provider: options.provider ?? "cpu",
    run: (feeds, output) => inner.run(feeds, output),
    close: () => inner.close(),
  };
}

Deno.test("defaultCpuSessions(): one per core, at most 4", () => {
  assert.deepEqual([1, 2, 3, 4, 8, 64].map((n) => defaultCpuSessions(n)), [1, 2, 3, 4, 4, 4]);
});

Deno.test("sessions: a CPU model is opened that many times, the cores shared out among them; its embedder runs that many batches at once", async () => {
  const opened: RunnerOptions[] = [];
  await withRegistry(async (registry) => {
    const embedder = await registry.get(TINY_MODEL_NAME);
    assert.equal(opened.length, 3);
    const threads = Math.max(1, Math.floor(availableCpus() / 3));
    assert.deepEqual(opened.map((o) => [o.provider, o.intraOpNumThreads]), [
      ["cpu", threads],
      ["cpu", threads],
      ["cpu", threads],
    ]);
    assert.equal(embedder.parallelRuns, 3);
    const [v] = await embedder.embedTexts(["hello"], "query");
    assert.equal(v!.length, 32);
  }, {
    sessions: 3,
    openRunner: (path: string, options: RunnerOptions) => {
      opened.push(options);
      return InlineInferenceRunner.open(path, options);
    },
  });
  assert.throws(
    () => new ModelRegistry({ modelsDir: "/m", sessions: 0 }),
    /sessions must be a positive integer, got 0/,
  );
});

Deno.test("sessions: one that cannot open closes the others and fails the load; a GPU model has one session", async () => {
  let opens = 0;
  const closed: number[] = [];
  await withRegistry(async (registry) => {
    await rejectsWithCode(registry.get(TINY_MODEL_NAME), "unknown_model", /third session/);
    assert.deepEqual(closed.sort(), [1, 2]);
  }, {
    sessions: 3,
    openRunner: async (path: string, options: RunnerOptions) => {
      const n = ++opens;
      if (n === 3) throw new Error("third session failed");
      const r = await InlineInferenceRunner.open(path, options);
      return {
        inputNames: r.inputNames,
        outputNames: r.outputNames,
        provider: r.provider,
        run: (feeds, output) => r.run(feeds, output),
        close: () => (closed.push(n), r.close()),
      } satisfies InferenceRunner;
    },
  });

  const gpu: RunnerOptions[] = [];
  await withRegistry(async (registry) => {
    const embedder = await registry.get(TINY_MODEL_NAME);
    assert.deepEqual(gpu.map((o) => o.provider), ["cuda"]);
    assert.equal(embedder.parallelRuns, 1);
  }, {
    device: "auto",
    sessions: 3,
    deviceEnvironment: oneGpu("0, GPU-1, 24000, 100, 23900, Idle GPU"),
    openRunner: (path: string, options: RunnerOptions) => {
      gpu.push(options);
      return runnerOn(path, options);
    },
  });
});

Deno.test("sessions by default: one per core in worker threads, one in the calling thread (sessions there run one after the other)", async () => {
  for (const [thread, expected] of [["worker", defaultCpuSessions()], ["main", 1]] as const) {
    let opened = 0;
    await withRegistry(async (registry) => {
      const embedder = await registry.get(TINY_MODEL_NAME);
      assert.equal(opened, expected, thread);
      assert.equal(embedder.parallelRuns, expected, thread);
    }, {
      thread,
      sessions: undefined,
      openRunner: (path: string, options: RunnerOptions) => {
        opened++;
        return InlineInferenceRunner.open(path, options);
      },
    });
  }
});

Deno.test("one session: concurrent calls' batches wait for it in the registry's pool, each told it started only when it runs", async () => {
  const starts: string[] = [];
  const holds: PromiseWithResolvers<void>[] = [];
  await withRegistry(async (registry) => {
    const embedder = await registry.get(TINY_MODEL_NAME);
    assert.equal(embedder.parallelRuns, 1);
    const calls = ["one", "two"].map((t) => embedder.embedTexts([t], "query"));
    await waitFor("a batch running", () => holds.length >= 1, { seen: () => starts });
    assert.equal(starts.length, 1, "the second batch waits for the session, not in it");
    holds[0]!.resolve();
    await waitFor("the second batch running", () => holds.length === 2, { seen: () => starts });
    holds[1]!.resolve();
    assert.equal((await Promise.all(calls)).length, 2);
  }, {
    sessions: 1,
    openRunner: async (path: string, options: RunnerOptions) => {
      const inner = await InlineInferenceRunner.open(path, options);
      // A session that takes every run posted to it at once (as a worker thread queues them).
      return {
        inputNames: inner.inputNames,
        outputNames: inner.outputNames,
        provider: inner.provider,
        async run(feeds, output, runOptions) {
          runOptions?.onStart?.();
          starts.push(output);
          const hold = Promise.withResolvers<void>();
          holds.push(hold);
          await hold.promise;
          return await inner.run(feeds, output);
        },
        close: () => inner.close(),
      } satisfies InferenceRunner;
    },
  });
});
