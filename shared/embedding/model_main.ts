/**
 * `deno task model`: converts the default embedding model into `MODELS_DIR` (once; later runs
 * find it there) and prints where it is, then runs the known-answer gate of every precision the
 * directory holds (`known_answers.ts`; a few seconds): float32 must give the published answers,
 * the others must stay within tolerance of float32 and rank the fixture retrieval set alike.
 * CI prepares the model this way, so a converter change that breaks a precision fails there.
 *
 * Usage: deno task model [--models-dir DIR] [--check | --no-check]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadConfigOrExit } from "../config/config.ts";
import { configureLogging, getLogger } from "../log/logger.ts";
import { DEFAULT_MODEL_NAME, ensureDefaultModel } from "./default_model.ts";
import { checkPrecisions } from "./known_answers.ts";
import { MODEL_CONFIG_FILE } from "./model_config.ts";
import { ModelRegistry } from "./model_registry.ts";

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "models-dir": { type: "string" },
      check: { type: "boolean", default: true },
      "no-check": { type: "boolean", default: false },
    },
  });
  const config = loadConfigOrExit();
  configureLogging({ level: config.logLevel });
  const log = getLogger("model");
  const modelsDir = values["models-dir"] ?? config.modelsDir;
  const dir = await ensureDefaultModel(modelsDir, { log });
  const meta = JSON.parse(await Deno.readTextFile(join(dir, MODEL_CONFIG_FILE)));
  console.log(JSON.stringify({ model: DEFAULT_MODEL_NAME, dir, source: meta.source }));
  if (!values.check || values["no-check"]) return 0;

  const registry = new ModelRegistry({
    modelsDir,
    device: config.embeddingDevice,
    log,
    thread: "main",
  });
  try {
    const info = await registry.resolve(DEFAULT_MODEL_NAME);
    const fp32 = await registry.get(DEFAULT_MODEL_NAME, { precision: "fp32" });
    const others = [];
    for (const precision of info.precisions) {
      if (precision !== "fp32") {
        others.push(await registry.get(DEFAULT_MODEL_NAME, { precision }));
      }
    }
    const reports = await checkPrecisions(fp32, others);
    for (const r of reports) {
      console.log(JSON.stringify({
        precision: r.precision,
        check: r.failures.length === 0 ? "ok" : "failed",
        pairs: r.pairs.map((c) => Number(c.toFixed(4))),
        max_pair_difference: Number(r.max_pair_difference.toFixed(4)),
        max_extra_pair_difference: Number(r.max_extra_pair_difference.toFixed(4)),
        min_self_cosine: Number(r.min_self_cosine.toFixed(4)),
        failures: r.failures,
      }));
    }
    return reports.every((r) => r.failures.length === 0) ? 0 : 1;
  } finally {
    await registry.close();
  }
}

if (import.meta.main) Deno.exit(await main());
