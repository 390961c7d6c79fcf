/**
 * `deno task model`: converts the default embedding model into `MODELS_DIR` (once; later runs
 * find it there) and prints where it is. `--check` also embeds the known sentences and fails
 * unless the model gives the known answers.
 *
 * Usage: deno task model [--models-dir DIR] [--check]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadConfigOrExit } from "../config/config.ts";
import { configureLogging, getLogger } from "../log/logger.ts";
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from "./default_model.ts";
import { MODEL_CONFIG_FILE } from "./model_config.ts";
import { ModelRegistry } from "./model_registry.ts";

/** Cosine similarity of two vectors. */
function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "models-dir": { type: "string" }, check: { type: "boolean", default: false } },
  });
  const config = loadConfigOrExit();
  configureLogging({ level: config.logLevel });
  const log = getLogger("model");
  const modelsDir = values["models-dir"] ?? config.modelsDir;
  const dir = await ensureDefaultModel(modelsDir, { log });
  const meta = JSON.parse(await Deno.readTextFile(join(dir, MODEL_CONFIG_FILE)));
  console.log(JSON.stringify({ model: DEFAULT_MODEL_NAME, dir, source: meta.source }));
  if (!values.check) return 0;

  const registry = new ModelRegistry({
    modelsDir,
    device: config.embeddingDevice,
    log,
    thread: "main",
  });
  try {
    const embedder = await registry.get(DEFAULT_MODEL_NAME);
    const [food, bread, stocks] = await embedder.embedTexts([
      "A man is eating food.",
      "A man is eating a piece of bread.",
      "The stock market crashed today.",
    ], "document");
    const similar = cosine(food!, bread!);
    const unrelated = Math.max(cosine(food!, stocks!), cosine(bread!, stocks!));
    const ok = Math.abs(similar - 0.755) <= 0.005 && unrelated < 0.05;
    console.log(JSON.stringify({ check: ok ? "ok" : "failed", similar, unrelated }));
    return ok ? 0 : 1;
  } finally {
    await registry.close();
  }
}

if (import.meta.main) Deno.exit(await main());
