/**
 * The peer of `bench:embed`: `@huggingface/transformers` (transformers.js, onnxruntime-node
 * underneath) running the project's own ONNX files, so the comparison is of everything around
 * the graph (tokenising, batching, padding, pooling), not of two different graphs. It gets the
 * same threads as ours.
 */
import { env, pipeline } from "@huggingface/transformers";
import { join } from "node:path";
import { defaultModelSourcePaths } from "../shared/embedding/default_model.ts";

export interface PeerEmbedder {
  /** Mean-pooled, normalised vectors, in `batchSize` slices of `texts`. */
  embed(texts: string[], batchSize: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A transformers.js pipeline over `modelDir`'s `model.onnx` (fp32) or `model_int8.onnx` (int8),
 * laid out as transformers.js expects them (`onnx/model.onnx`, `onnx/model_int8.onnx`).
 */
export async function openPeer(
  modelDir: string,
  precision: "fp32" | "int8",
  threads: number,
): Promise<PeerEmbedder> {
  const root = await Deno.makeTempDir({ prefix: "bench-peer-" });
  const dir = join(root, "minilm");
  await Deno.mkdir(join(dir, "onnx"), { recursive: true });
  for (const file of ["model.onnx", "model_int8.onnx"]) {
    await Deno.symlink(await Deno.realPath(join(modelDir, file)), join(dir, "onnx", file));
  }
  await Deno.copyFile(join(modelDir, "tokenizer.json"), join(dir, "tokenizer.json"));
  await Deno.copyFile(defaultModelSourcePaths().configPath, join(dir, "config.json"));
  await Deno.writeTextFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      model_max_length: 256,
      tokenizer_class: "BertTokenizer",
      do_lower_case: true,
      pad_token: "[PAD]",
      cls_token: "[CLS]",
      sep_token: "[SEP]",
      unk_token: "[UNK]",
      mask_token: "[MASK]",
    }),
  );
  env.localModelPath = root + "/";
  env.allowRemoteModels = false;
  // deno-lint-ignore no-explicit-any
  const extractor: any = await pipeline("feature-extraction", "minilm", {
    dtype: precision,
    device: "cpu",
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    // deno-lint-ignore no-explicit-any
  } as any);
  return {
    async embed(texts, batchSize) {
      let n = 0;
      for (let i = 0; i < texts.length; i += batchSize) {
        const out = await extractor(texts.slice(i, i + batchSize), {
          pooling: "mean",
          normalize: true,
        });
        n += out.dims[0];
      }
      return n;
    },
    async close() {
      await extractor.dispose();
      await Deno.remove(root, { recursive: true });
    },
  };
}
