/**
 * A tiny BERT (2 layers, 32 dimensions, a character-level WordPiece vocabulary) with
 * deterministic pseudo-random weights, written through the same converter as the real model.
 * Its vectors mean nothing, but it exercises every code path in milliseconds: tokenising,
 * truncation, padding, batching, pooling, devices and failures.
 */
import { seededRandom } from "./seeded_random.ts";
import { type BertConfig, buildBertOnnx } from "./bert_onnx.ts";
import type { ModelConfigInput } from "./model_config.ts";
import { type ModelFiles, writeModelDirectory } from "./model_directory.ts";
import { encodeOnnxModel } from "./onnx_proto.ts";

export const TINY_MODEL_NAME = "test/tiny-bert";

const SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const CHARS = [..."abcdefghijklmnopqrstuvwxyz0123456789"];
const PUNCT = [...".,!?'-:;()"];

/** The tiny vocabulary: specials, single characters, `##` continuations of letters and digits. */
export function tinyVocab(): string[] {
  return [...SPECIAL, ...CHARS, ...PUNCT, ...CHARS.map((c) => `##${c}`)];
}

export function tinyTokenizerJson(): string {
  return wordPieceTokenizerJson(tinyVocab());
}

/**
 * A BERT WordPiece `tokenizer.json` over `vocab` (its first entries the special tokens): BERT's
 * normalizer and pre-tokenizer, the `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` templates with token
 * types 0 then 1. The tiny embedding model and the tiny cross-encoder both use it.
 */
export function wordPieceTokenizerJson(vocab: readonly string[]): string {
  const ids = Object.fromEntries(vocab.map((t, i) => [t, i]));
  const special = (id: string, type_id = 0) => ({ SpecialToken: { id, type_id } });
  return JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special("[CLS]"), { Sequence: { id: "A", type_id: 0 } }, special("[SEP]")],
      pair: [
        special("[CLS]"),
        { Sequence: { id: "A", type_id: 0 } },
        special("[SEP]"),
        { Sequence: { id: "B", type_id: 1 } },
        special("[SEP]", 1),
      ],
      special_tokens: {
        "[CLS]": { id: "[CLS]", ids: [ids["[CLS]"]], tokens: ["[CLS]"] },
        "[SEP]": { id: "[SEP]", ids: [ids["[SEP]"]], tokens: ["[SEP]"] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: ids,
    },
  });
}

export interface TinyModelOptions {
  /** Most tokens per input, special tokens included. @default {32} */
  maxTokens?: number;
  /** @default {"mean"} */
  pooling?: "mean" | "cls";
  /** @default {""} */
  queryPrefix?: string;
  /** @default {""} */
  documentPrefix?: string;
  /** Which output the embedder reads; `last_hidden_state` makes it pool in JavaScript. @default {unset} */
  output?: string;
  /** Seed of the weights. @default {7} */
  seed?: number;
  /** Also write an int8 graph (`model_int8.onnx`) of the same weights. @default {false} */
  int8?: boolean;
}

export const TINY_BERT_CONFIG: BertConfig = {
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  layer_norm_eps: 1e-12,
  vocab_size: tinyVocab().length,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  hidden_act: "gelu",
  position_embedding_type: "absolute",
};

/** The shape of a BERT weight tensor of `cfg`, by its parameter name. */
export function bertWeightShape(name: string, cfg: BertConfig): number[] {
  const h = cfg.hidden_size;
  return name.startsWith("embeddings.word_embeddings")
    ? [cfg.vocab_size, h]
    : name.startsWith("embeddings.position_embeddings")
    ? [cfg.max_position_embeddings, h]
    : name.startsWith("embeddings.token_type_embeddings")
    ? [cfg.type_vocab_size, h]
    : name.includes("intermediate.dense.weight")
    ? [cfg.intermediate_size, h]
    : name.includes("intermediate.dense.bias")
    ? [cfg.intermediate_size]
    : name.includes("output.dense.weight") && !name.includes("attention")
    ? [h, cfg.intermediate_size]
    : name.endsWith(".weight") && !name.includes("LayerNorm")
    ? [h, h]
    : [h];
}

/** The tiny model's files. */
export function buildTinyModel(options: TinyModelOptions = {}): ModelFiles {
  const {
    maxTokens = 32,
    pooling = "mean",
    queryPrefix = "",
    documentPrefix = "",
    output,
    seed = 7,
    int8 = false,
  } = options;
  const cfg = TINY_BERT_CONFIG;
  if (maxTokens > cfg.max_position_embeddings) {
    throw new RangeError(
      `Cannot build tiny model: maxTokens ${maxTokens} exceeds ${cfg.max_position_embeddings} positions`,
    );
  }
  // The same weights for every precision: each graph gets a fresh generator from the same seed
  // and asks for the weights in the same order.
  let next = seededRandom(seed);
  const weight = (name: string) => {
    const shape = bertWeightShape(name, cfg);
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const isScale = name.includes("LayerNorm.weight");
    for (let i = 0; i < size; i++) {
      const u = next() * 2 - 1;
      data[i] = isScale ? 1 + 0.1 * u : 0.5 * u;
    }
    return { shape, data };
  };
  const build = (precision: "fp32" | "int8") => {
    next = seededRandom(seed);
    return encodeOnnxModel(
      buildBertOnnx({ config: cfg, weight }, {
        pooling,
        normalize: true,
        metadata: { model: TINY_MODEL_NAME },
        precision,
      }),
    );
  };
  const onnx = build("fp32");
  const config: ModelConfigInput = {
    dimension: cfg.hidden_size,
    max_tokens: maxTokens,
    pooling,
    normalize: true,
    query_prefix: queryPrefix,
    document_prefix: documentPrefix,
    ...(output ? { output } : {}),
    ...(int8 ? { onnx_files: { int8: "model_int8.onnx" } } : {}),
  };
  return {
    onnx,
    ...(int8 ? { otherOnnx: { "model_int8.onnx": build("int8") } } : {}),
    tokenizerJson: tinyTokenizerJson(),
    config,
  };
}

/** Writes the tiny model into `dir`. */
export async function writeTinyModel(dir: string, options: TinyModelOptions = {}): Promise<void> {
  await writeModelDirectory(dir, buildTinyModel(options));
}
