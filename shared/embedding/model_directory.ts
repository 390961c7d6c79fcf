/**
 * Writes a model directory so that readers never see half a model: every file goes to a unique
 * temporary name and is renamed into place, the config last (its presence means "complete").
 * Several processes may write the same directory at once; with a deterministic converter they
 * write the same bytes, and the last rename wins harmlessly.
 */
import { join } from "node:path";
import { MODEL_CONFIG_FILE, type ModelConfigInput, ModelConfigSchema } from "./model_config.ts";

export interface ModelFiles {
  /** The graph of `config.onnx_file`. */
  onnx: Uint8Array;
  /** Graphs at other precisions, by file name (as `config.onnx_files` names them). @default {{}} */
  otherOnnx?: Record<string, Uint8Array>;
  /** The tokenizer.json text. */
  tokenizerJson: string;
  config: ModelConfigInput;
}

/** Writes `data` to `path` atomically (temporary file in the same directory, then rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(temp, data);
    else await Deno.writeFile(temp, data);
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot write model file: ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export async function writeModelDirectory(dir: string, files: ModelFiles): Promise<void> {
  const config = ModelConfigSchema.parse(files.config);
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, config.onnx_file), files.onnx);
  for (const [file, bytes] of Object.entries(files.otherOnnx ?? {})) {
    await writeFileAtomic(join(dir, file), bytes);
  }
  await writeFileAtomic(join(dir, "tokenizer.json"), files.tokenizerJson);
  await writeFileAtomic(join(dir, MODEL_CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
