import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  convertDefaultModel,
  DEFAULT_MODEL_NAME,
  defaultModelDir,
  ensureDefaultModel,
  isDefaultModelCurrent,
} from "./default_model.ts";
import { checkPrecisions, PAIR_TOLERANCE } from "./known_answers.ts";
import { MODEL_CONFIG_FILE, ModelConfigSchema } from "./model_config.ts";
import type { Precision } from "./precision.ts";
import { sha256Hex } from "./model_directory.ts";
import { ModelRegistry } from "./model_registry.ts";
import { testModelsDir } from "./test_models_dir.ts";

// Converted once per machine (or found there already), shared by every test that needs meaning.
const modelsDir = testModelsDir();
await ensureDefaultModel(modelsDir);

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function withDefaultModel(
  fn: (embedder: Awaited<ReturnType<ModelRegistry["get"]>>) => Promise<void>,
  precision: Precision = "fp32",
): Promise<void> {
  const registry = new ModelRegistry({ modelsDir, device: "cpu" });
  try {
    await fn(await registry.get(DEFAULT_MODEL_NAME, { precision }));
  } finally {
    await registry.close();
  }
}

Deno.test("the converted all-MiniLM-L6-v2 gives the known answers", async () => {
  await withDefaultModel(async (embedder) => {
    assert.equal(embedder.dimension, 384);
    assert.equal(embedder.maxTokens, 256);
    assert.equal(embedder.maxChunkTokens, 254);
    const [food, bread, stocks] = await embedder.embedTexts([
      "A man is eating food.",
      "A man is eating a piece of bread.",
      "The stock market crashed today.",
    ], "document");
    const similar = cosine(food!, bread!);
    assert.ok(Math.abs(similar - 0.755) <= 0.005, `cos(food, bread) = ${similar}`);
    assert.ok(cosine(food!, stocks!) < 0.05, `cos(food, stocks) = ${cosine(food!, stocks!)}`);
    assert.ok(cosine(bread!, stocks!) < 0.05, `cos(bread, stocks) = ${cosine(bread!, stocks!)}`);
    assert.ok(Math.abs(Math.hypot(...food!) - 1) < 1e-5, "normalised");
  });
});

Deno.test("the real model gives a text alone and in a padded batch the same vector", async () => {
  await withDefaultModel(async (embedder) => {
    const texts = [
      "Short.",
      "A considerably longer sentence that makes every other text in this batch padded.",
      "",
      "Semantic search finds documents by meaning rather than by exact words.",
    ];
    const batch = await embedder.embedTexts(texts, "document");
    for (let i = 0; i < texts.length; i++) {
      const [alone] = await embedder.embedTexts([texts[i]!], "document");
      const difference = maxDifference(alone!, batch[i]!);
      assert.ok(difference < 1e-5, `text ${i}: max difference ${difference}`);
    }
  });
});

Deno.test("int8: the reference pairs' cosines stay within 0.01 of fp32, retrieval ranks alike", async () => {
  const registry = new ModelRegistry({ modelsDir, device: "cpu" });
  try {
    const fp32 = await registry.get(DEFAULT_MODEL_NAME, { precision: "fp32" });
    const int8 = await registry.get(DEFAULT_MODEL_NAME, { precision: "int8" });
    assert.equal(int8.precision, "int8");
    const [fp32Report, int8Report] = await checkPrecisions(fp32, [int8]);
    assert.deepEqual(fp32Report!.failures, []);
    assert.deepEqual(int8Report!.failures, []);
    assert.ok(int8Report!.max_pair_difference <= PAIR_TOLERANCE);
    assert.ok(int8Report!.max_pair_difference > 0, "int8 is a different graph from fp32");
    // Auto on a CPU is int8.
    assert.equal((await registry.get(DEFAULT_MODEL_NAME)).precision, "int8");
  } finally {
    await registry.close();
  }
});

Deno.test("int8: a text alone and in a padded batch gets nearly the same vector", async () => {
  await withDefaultModel(async (embedder) => {
    const texts = [
      "Short.",
      "A considerably longer sentence that makes every other text in this batch padded.",
      "Semantic search finds documents by meaning rather than by exact words.",
    ];
    // Activations are quantized per batch (one range for the whole tensor), so a batch's
    // neighbours move a vector a little; never far.
    const batch = await embedder.embedTexts(texts, "document");
    for (let i = 0; i < texts.length; i++) {
      const [alone] = await embedder.embedTexts([texts[i]!], "document");
      const c = cosine(alone!, batch[i]!);
      assert.ok(c > 0.98, `text ${i}: cosine ${c} between alone and batched`);
    }
  }, "int8");
});

Deno.test("the real model cuts over-long texts at 256 tokens", async () => {
  await withDefaultModel(async (embedder) => {
    assert.equal(embedder.countTokens("word ".repeat(1000)), 1000);
    const [cut, long, longer] = await embedder.embedTexts([
      "word ".repeat(254),
      "word ".repeat(1000),
      "word ".repeat(254) + "completely different ending ".repeat(100),
    ], "document");
    assert.ok(maxDifference(cut!, long!) < 1e-5);
    assert.ok(maxDifference(cut!, longer!) < 1e-5);
  });
});

Deno.test("the conversion is byte-for-byte reproducible", async () => {
  const dir = defaultModelDir(modelsDir);
  const config = ModelConfigSchema.parse(
    JSON.parse(await Deno.readTextFile(join(dir, MODEL_CONFIG_FILE))),
  );
  const again = await convertDefaultModel();
  const sha = await sha256Hex(again.onnx);
  assert.equal(sha, config.source?.onnx_sha256);
  assert.equal(sha, await sha256Hex(await Deno.readFile(join(dir, "model.onnx"))));
  const int8 = await sha256Hex(again.otherOnnx!["model_int8.onnx"]!);
  assert.equal(int8, config.source?.onnx_int8_sha256);
  assert.equal(int8, await sha256Hex(await Deno.readFile(join(dir, "model_int8.onnx"))));
});

Deno.test("ensureDefaultModel() is safe when several processes run it at once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const repo = fileURLToPath(new URL("../..", import.meta.url));
    const module = new URL("./default_model.ts", import.meta.url).href;
    const code =
      `import { ensureDefaultModel } from "${module}"; await ensureDefaultModel(Deno.env.get("TARGET"));`;
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", code],
        cwd: repo,
        env: { TARGET: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const results = await Promise.all([run(), run()]);
    for (const r of results) {
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    }
    const modelDir = defaultModelDir(dir);
    assert.ok(await isDefaultModelCurrent(modelDir));
    const entries = [];
    for await (const e of Deno.readDir(modelDir)) entries.push(e.name);
    assert.deepEqual(
      entries.sort(),
      [MODEL_CONFIG_FILE, "model.onnx", "model_int8.onnx", "tokenizer.json"].sort(),
    );
    const reference = defaultModelDir(modelsDir);
    assert.equal(
      await sha256Hex(await Deno.readFile(join(modelDir, "model.onnx"))),
      await sha256Hex(await Deno.readFile(join(reference, "model.onnx"))),
    );

    // A damaged file is noticed and the model rebuilt.
    await Deno.truncate(join(modelDir, "model.onnx"), 1000);
    assert.equal(await isDefaultModelCurrent(modelDir), false);
    await ensureDefaultModel(dir);
    assert.ok(await isDefaultModelCurrent(modelDir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the registry converts the default model on first use", async () => {
  const dir = await Deno.makeTempDir();
  const registry = new ModelRegistry({ modelsDir: dir, device: "cpu" });
  try {
    assert.equal((await registry.resolve(DEFAULT_MODEL_NAME)).ready, false);
    const embedder = await registry.get(DEFAULT_MODEL_NAME);
    assert.equal((await registry.resolve(DEFAULT_MODEL_NAME)).ready, true);
    const [vector] = await embedder.embedTexts(["A man is eating food."], "query");
    await withDefaultModel(async (cached) => {
      const [reference] = await cached.embedTexts(["A man is eating food."], "query");
      assert.ok(maxDifference(vector!, reference!) < 1e-6);
    }, embedder.precision);
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});
