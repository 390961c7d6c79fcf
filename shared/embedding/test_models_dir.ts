/**
 * Where tests find (and cache) converted models: `MODELS_DIR` when set, else `<repo>/data/models`,
 * so the default model is converted once per machine, not once per test.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export function testModelsDir(): string {
  const fromEnv = Deno.env.get("MODELS_DIR");
  if (fromEnv && fromEnv.trim() !== "") return resolve(fromEnv);
  return fileURLToPath(new URL("../../data/models", import.meta.url));
}
