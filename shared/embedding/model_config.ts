/**
 * The small JSON config of a model directory (`embedding.json`): what the ONNX graph cannot say
 * about itself. A directory without one but with sentence-transformers' own files (an ONNX export
 * of any sentence-transformers model) gets an equivalent config derived from those.
 */
import { z } from "zod";
import { join } from "node:path";
import { type Precision, PRECISIONS } from "./precision.ts";

export const MODEL_CONFIG_FILE = "embedding.json";

export const ModelConfigSchema = z.object({
  /** Vector size. */
  dimension: z.number().int().positive(),
  /** Most tokens one input may have, special tokens included. */
  max_tokens: z.number().int().min(3),
  pooling: z.enum(["mean", "cls"]).default("mean"),
  normalize: z.boolean().default(true),
  /** Prepended to queries (an instruction or a `query: ` marker). */
  query_prefix: z.string().default(""),
  /** Prepended to documents. */
  document_prefix: z.string().default(""),
  /** The ONNX file, relative to the directory. */
  onnx_file: z.string().default("model.onnx"),
  /** The precision of `onnx_file`'s weights and arithmetic. */
  precision: z.enum(PRECISIONS).default("fp32"),
  /**
   * Graphs of the same model at other precisions (`{"int8": "model_int8.onnx"}`), relative to
   * the directory; `onnx_file` is always there at `precision`.
   */
  onnx_files: z.partialRecord(z.enum(PRECISIONS), z.string()).optional(),
  /**
   * The ONNX output to read: [batch, hidden] is taken as pooled, [batch, sequence, hidden] is
   * pooled here. Unset: `sentence_embedding` when the graph has it, else `last_hidden_state`,
   * else the first output.
   */
  output: z.string().optional(),
  /** Where a converted model came from (informational; the converter checks it). */
  source: z.record(z.string(), z.unknown()).optional(),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type ModelConfigInput = z.input<typeof ModelConfigSchema>;

/** Each precision the model directory holds and its ONNX file. */
export function onnxFilesOf(config: ModelConfig): Map<Precision, string> {
  const files = new Map<Precision, string>([[config.precision, config.onnx_file]]);
  for (const p of PRECISIONS) {
    const file = config.onnx_files?.[p];
    if (file !== undefined && !files.has(p)) files.set(p, file);
  }
  return files;
}

async function readJson(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read model config: ${path}: ${(err as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

const stPooling = z.object({
  word_embedding_dimension: z.number().int().positive().optional(),
  pooling_mode_cls_token: z.boolean().optional(),
  pooling_mode_mean_tokens: z.boolean().optional(),
});
const stModules = z.array(z.object({ type: z.string(), path: z.string().optional() }));
const stPrompts = z.object({ prompts: z.record(z.string(), z.string()).optional() });

/** A config from sentence-transformers' files, when the directory has them. */
async function deriveFromSentenceTransformers(dir: string): Promise<ModelConfig | undefined> {
  const bert = await readJson(join(dir, "sentence_bert_config.json")) as
    | { max_seq_length?: number }
    | undefined;
  const hf = await readJson(join(dir, "config.json")) as { hidden_size?: number } | undefined;
  if (!bert || !hf) return undefined;
  const onnxFile = (await exists(join(dir, "model.onnx")))
    ? "model.onnx"
    : (await exists(join(dir, "onnx", "model.onnx")))
    ? "onnx/model.onnx"
    : undefined;
  if (!onnxFile) return undefined;
  const modules = stModules.safeParse(await readJson(join(dir, "modules.json")));
  const poolingDir = modules.success
    ? modules.data.find((m) => m.type.endsWith("Pooling"))?.path ?? "1_Pooling"
    : "1_Pooling";
  const pooling = stPooling.safeParse(await readJson(join(dir, poolingDir, "config.json")));
  const prompts = stPrompts.safeParse(
    await readJson(join(dir, "config_sentence_transformers.json")),
  );
  const promptMap = prompts.success ? prompts.data.prompts ?? {} : {};
  return ModelConfigSchema.parse({
    dimension: (pooling.success ? pooling.data.word_embedding_dimension : undefined) ??
      hf.hidden_size,
    max_tokens: bert.max_seq_length ?? 512,
    pooling: pooling.success && pooling.data.pooling_mode_cls_token ? "cls" : "mean",
    normalize: modules.success ? modules.data.some((m) => m.type.endsWith("Normalize")) : false,
    query_prefix: promptMap.query ?? "",
    document_prefix: promptMap.document ?? promptMap.passage ?? "",
    onnx_file: onnxFile,
  });
}

/**
 * The config of the model in `dir`, or undefined when the directory holds no usable model config.
 * Throws when a config exists but is invalid, so a typo is reported, not ignored.
 */
export async function readModelConfig(dir: string): Promise<ModelConfig | undefined> {
  const path = join(dir, MODEL_CONFIG_FILE);
  const raw = await readJson(path);
  if (raw === undefined) return await deriveFromSentenceTransformers(dir);
  const parsed = ModelConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("; ");
    throw new Error(`Cannot read model config ${path}: ${detail}`);
  }
  return parsed.data;
}
