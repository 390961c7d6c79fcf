/**
 * A tiny cross-encoder for tests and examples, built by hand as an ONNX graph (no weights to
 * download): its logit for a (query, passage) pair is the number of distinct vocabulary words the
 * two share, less 0.001 per passage token (a shorter passage wins a tie). Its tokenizer is a BERT
 * WordPiece over special tokens, the given whole words, and single characters (which every other
 * word falls back to and which count for nothing), with the BERT pair template
 * `[CLS] query [SEP] passage [SEP]`, token types 0 then 1. So a passage holding more of the query's
 * words ranks first: a score that means something, and that a dense or lexical ranking need not
 * agree with. Same inputs and output as a real cross-encoder (see `cross_encoder.ts`).
 */
import { join } from "node:path";
import { GraphBuilder } from "./onnx_graph_builder.ts";
import { encodeOnnxModel, TensorDataType } from "./onnx_proto.ts";
import { wordPieceTokenizerJson } from "./tiny_model.ts";

const SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const CHARS = [..."abcdefghijklmnopqrstuvwxyz0123456789"];

/** The tokenizer.json of the tiny cross-encoder over `words` (lower case). */
export function tinyCrossEncoderTokenizer(words: readonly string[]): string {
  return wordPieceTokenizerJson(tinyCrossEncoderVocab(words));
}

function tinyCrossEncoderVocab(words: readonly string[]): string[] {
  const whole = [...new Set(words.map((w) => w.toLowerCase()))].filter((w) =>
    /^[a-z0-9]+$/.test(w) && w.length > 1
  );
  return [...SPECIAL, ...CHARS, ...CHARS.map((c) => `##${c}`), ...whole];
}

/** The tiny cross-encoder's `model.onnx` over `words`. */
export function buildTinyCrossEncoder(words: readonly string[]): Uint8Array {
  const vocab = tinyCrossEncoderVocab(words);
  const firstWord = SPECIAL.length + 2 * CHARS.length;
  const g = new GraphBuilder();
  const ids = g.input("input_ids", TensorDataType.INT64, ["batch", "sequence"]);
  const mask = g.input("attention_mask", TensorDataType.INT64, ["batch", "sequence"]);
  const types = g.input("token_type_ids", TensorDataType.INT64, ["batch", "sequence"]);
  // Which vocabulary entries count: whole words only.
  const weights = new Float32Array(vocab.length);
  for (let i = firstWord; i < vocab.length; i++) weights[i] = 1;
  g.initializer("word_weight", [vocab.length], weights);
  const onehot = g.op("OneHot", "onehot", [
    ids,
    g.constInt64("vocab_size", [vocab.length]),
    g.constFloat("onehot_values", [0, 1]),
  ], { attrs: { axis: -1 } });
  const maskF = g.op("Cast", "mask_f", [mask], { attrs: { to: TensorDataType.FLOAT } });
  const typesF = g.op("Cast", "types_f", [types], { attrs: { to: TensorDataType.FLOAT } });
  const passageMask = g.op("Mul", "passage_mask", [maskF, typesF]);
  const queryMask = g.op("Sub", "query_mask", [maskF, passageMask]);
  const axis2 = g.constInt64("axis_2", [2]);
  const axis1 = g.constInt64("axis_1", [1]);
  const one = g.constFloat("one", 1);
  const present = (name: string, m: string) => {
    const m3 = g.op("Unsqueeze", `${name}/mask3`, [m, axis2]);
    const counts = g.op("ReduceSum", `${name}/counts`, [
      g.op("Mul", `${name}/hot`, [onehot, m3]),
      axis1,
    ], {
      attrs: { keepdims: 0 },
    });
    return g.op("Min", `${name}/present`, [counts, one]);
  };
  const shared = g.op("Mul", "shared", [
    present("query", queryMask),
    present("passage", passageMask),
  ]);
  const sharedWords = g.op("Mul", "shared_words", [shared, "word_weight"]);
  const overlap = g.op("ReduceSum", "overlap", [sharedWords, axis1], { attrs: { keepdims: 1 } });
  const length = g.op("ReduceSum", "passage_length", [passageMask, axis1], {
    attrs: { keepdims: 1 },
  });
  const penalty = g.op("Mul", "length_penalty", [length, g.constFloat("per_token", 0.001)]);
  g.op("Sub", "logits", [overlap, penalty]);
  g.output("logits", TensorDataType.FLOAT, ["batch", 1]);
  return encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 17,
    producerName: "semantik-tiny-cross-encoder",
    producerVersion: "1",
    graph: g.build("tiny_cross_encoder"),
    metadata: { model: "test/tiny-cross-encoder" },
  });
}

/** Writes the tiny cross-encoder (`model.onnx`, `tokenizer.json`) over `words` into `dir`. */
export async function writeTinyCrossEncoder(dir: string, words: readonly string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "model.onnx"), buildTinyCrossEncoder(words));
  await Deno.writeTextFile(join(dir, "tokenizer.json"), tinyCrossEncoderTokenizer(words));
}
