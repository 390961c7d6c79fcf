/**
 * Builds a standard BERT encoder as an ONNX graph (opset 17) from its weights, the way
 * Hugging Face's `BertModel` computes it, plus sentence-transformers pooling:
 *
 * inputs  `input_ids`, `attention_mask`, `token_type_ids`: int64 [batch, sequence]
 * outputs `last_hidden_state` float32 [batch, sequence, hidden]
 *         `sentence_embedding` float32 [batch, hidden] (pooled, normalised when asked)
 *
 * Only standard ops are used (Gather, Add, LayerNormalization, MatMul, Reshape, Transpose,
 * Softmax, Erf, ReduceSum, Div, Sqrt, ...), so every execution provider runs it.
 */
import { z } from "zod";
import { float, GraphBuilder } from "./onnx_graph_builder.ts";
import { type OnnxModel, TensorDataType } from "./onnx_proto.ts";

/** The fields of a Hugging Face BERT `config.json` that the graph needs. */
export const BertConfigSchema = z.object({
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  layer_norm_eps: z.number().positive().default(1e-12),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive(),
  type_vocab_size: z.number().int().positive().default(2),
  hidden_act: z.literal("gelu").default("gelu"),
  position_embedding_type: z.literal("absolute").default("absolute"),
});
export type BertConfig = z.infer<typeof BertConfigSchema>;

export interface BertWeight {
  shape: number[];
  data: Float32Array;
}

/** Where the weights come from: names as in Hugging Face's `BertModel` state dict. */
export interface BertSource {
  config: BertConfig;
  weight(name: string): BertWeight;
}

export interface BertOnnxOptions {
  /** Sentence pooling of `sentence_embedding`. @default {"mean"} */
  pooling?: "mean" | "cls";
  /** L2-normalise `sentence_embedding`. @default {true} */
  normalize?: boolean;
  /** `producer_name` and graph name metadata. @default {"semantik"} */
  producerName?: string;
  /** Extra `metadata_props` (sorted by key when written). @default {{}} */
  metadata?: Record<string, string>;
}

export const BERT_OPSET = 17;
/** The ONNX IR version that goes with opset 17. */
export const BERT_IR_VERSION = 8;

/** Stands in for -infinity on masked attention scores (torch.finfo(float32).min, as HF does). */
const MASK_VALUE = -3.4028234663852886e38;

function transpose2d(w: BertWeight, name: string): Float32Array {
  const [rows, cols] = w.shape;
  if (w.shape.length !== 2 || rows === undefined || cols === undefined) {
    throw new RangeError(`Cannot transpose ${name}: expected 2 dimensions, got [${w.shape}]`);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = w.data[r * cols + c]!;
  }
  return out;
}

/** The ONNX model of a BERT encoder with pooling. */
export function buildBertOnnx(source: BertSource, options: BertOnnxOptions = {}): OnnxModel {
  const { pooling = "mean", normalize = true, producerName = "semantik", metadata = {} } = options;
  const cfg = BertConfigSchema.parse(source.config);
  const hidden = cfg.hidden_size;
  const heads = cfg.num_attention_heads;
  if (hidden % heads !== 0) {
    throw new RangeError(
      `Cannot build BERT graph: hidden_size ${hidden} is not a multiple of ${heads} heads`,
    );
  }
  const headSize = hidden / heads;
  const g = new GraphBuilder();

  const expect = (name: string, shape: number[]): BertWeight => {
    const w = source.weight(name);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(
        `Cannot build BERT graph: weight ${name} has shape [${w.shape}], expected [${shape}]`,
      );
    }
    return w;
  };
  const vector = (name: string, size: number) =>
    g.initializer(name, [size], expect(name, [size]).data);
  /** A Linear layer's weight, stored [in, out] so that MatMul(x, w) computes x·Wᵀ. */
  const linear = (name: string, outSize: number, inSize: number) =>
    g.initializer(
      `${name}.weight`,
      [inSize, outSize],
      transpose2d(expect(`${name}.weight`, [outSize, inSize]), name),
    );

  const seq = ["batch", "sequence"];
  const inputIds = g.input("input_ids", TensorDataType.INT64, seq);
  const attentionMask = g.input("attention_mask", TensorDataType.INT64, seq);
  const tokenTypeIds = g.input("token_type_ids", TensorDataType.INT64, seq);

  // Shared constants.
  const one = g.constFloat("const/one", 1);
  const maskValue = g.constFloat("const/mask_value", MASK_VALUE);
  const axes12 = g.constInt64("const/axes_1_2", [1, 2]);
  const axis1 = g.constInt64("const/axis_1", [1]);
  const axis2 = g.constInt64("const/axis_2", [2]);
  const axisLast = g.constInt64("const/axis_last", [-1]);
  const zero1d = g.constInt64("const/zero_1d", [0]);
  const one1d = g.constInt64("const/one_1d", [1]);
  const two1d = g.constInt64("const/two_1d", [2]);
  const splitHeads = g.constInt64("const/split_heads_shape", [0, 0, heads, headSize]);
  const mergeHeads = g.constInt64("const/merge_heads_shape", [0, 0, hidden]);
  const scale = g.constFloat("const/attention_scale", Math.sqrt(headSize));
  const sqrtTwo = g.constFloat("const/sqrt_two", Math.SQRT2);
  const half = g.constFloat("const/half", 0.5);

  // Embeddings: word + position + token type, then LayerNorm.
  const wordTable = g.initializer(
    "embeddings.word_embeddings.weight",
    [cfg.vocab_size, hidden],
    expect("embeddings.word_embeddings.weight", [cfg.vocab_size, hidden]).data,
  );
  const positionTable = g.initializer(
    "embeddings.position_embeddings.weight",
    [cfg.max_position_embeddings, hidden],
    expect("embeddings.position_embeddings.weight", [cfg.max_position_embeddings, hidden]).data,
  );
  const typeTable = g.initializer(
    "embeddings.token_type_embeddings.weight",
    [cfg.type_vocab_size, hidden],
    expect("embeddings.token_type_embeddings.weight", [cfg.type_vocab_size, hidden]).data,
  );
  const inputShape = g.op("Shape", "embeddings/input_shape", [inputIds]);
  const seqLen = g.op("Slice", "embeddings/sequence_length", [inputShape, one1d, two1d, zero1d]);
  // Positions 0..S-1 are the first S rows of the table: a Slice, no position_ids input needed.
  const positions = g.op("Slice", "embeddings/positions", [positionTable, zero1d, seqLen, zero1d]);
  const words = g.op("Gather", "embeddings/words", [wordTable, inputIds], { attrs: { axis: 0 } });
  const types = g.op("Gather", "embeddings/token_types", [typeTable, tokenTypeIds], {
    attrs: { axis: 0 },
  });
  const sum1 = g.op("Add", "embeddings/add_positions", [words, positions]);
  const sum2 = g.op("Add", "embeddings/add_token_types", [sum1, types]);
  const layerNorm = (name: string, x: string, prefix: string) =>
    g.op("LayerNormalization", name, [
      x,
      vector(`${prefix}.weight`, hidden),
      vector(`${prefix}.bias`, hidden),
    ], {
      attrs: { axis: -1, epsilon: float(cfg.layer_norm_eps) },
    });
  let x = layerNorm("embeddings/layer_norm", sum2, "embeddings.LayerNorm");

  // Additive attention mask [batch, 1, 1, sequence]: 0 where attended, MASK_VALUE on padding.
  const maskFloat = g.op("Cast", "mask/float", [attentionMask], {
    attrs: { to: TensorDataType.FLOAT },
  });
  const maskExpanded = g.op("Unsqueeze", "mask/expanded", [maskFloat, axes12]);
  const maskInverted = g.op("Sub", "mask/inverted", [one, maskExpanded]);
  const maskBias = g.op("Mul", "mask/bias", [maskInverted, maskValue]);

  const dense = (name: string, input: string, prefix: string, outSize: number, inSize: number) => {
    const product = g.op("MatMul", `${name}/matmul`, [input, linear(prefix, outSize, inSize)]);
    return g.op("Add", `${name}/bias`, [product, vector(`${prefix}.bias`, outSize)]);
  };

  for (let layer = 0; layer < cfg.num_hidden_layers; layer++) {
    const p = `encoder.layer.${layer}`;
    const n = `layer${layer}`;
    const heads4d = (name: string, t: string, perm: number[]) =>
      g.op("Transpose", `${name}/transpose`, [
        g.op("Reshape", `${name}/split_heads`, [t, splitHeads]),
      ], {
        attrs: { perm },
      });
    const q = heads4d(
      `${n}/query`,
      dense(`${n}/query`, x, `${p}.attention.self.query`, hidden, hidden),
      [0, 2, 1, 3],
    );
    const k = heads4d(`${n}/key`, dense(`${n}/key`, x, `${p}.attention.self.key`, hidden, hidden), [
      0,
      2,
      3,
      1,
    ]);
    const v = heads4d(
      `${n}/value`,
      dense(`${n}/value`, x, `${p}.attention.self.value`, hidden, hidden),
      [0, 2, 1, 3],
    );
    const scores = g.op("Div", `${n}/scores_scaled`, [
      g.op("MatMul", `${n}/scores`, [q, k]),
      scale,
    ]);
    const masked = g.op("Add", `${n}/scores_masked`, [scores, maskBias]);
    const probs = g.op("Softmax", `${n}/probs`, [masked], { attrs: { axis: -1 } });
    const context = g.op("MatMul", `${n}/context`, [probs, v]);
    const merged = g.op("Reshape", `${n}/context_merged`, [
      g.op("Transpose", `${n}/context_transpose`, [context], { attrs: { perm: [0, 2, 1, 3] } }),
      mergeHeads,
    ]);
    const attnOut = dense(
      `${n}/attention_output`,
      merged,
      `${p}.attention.output.dense`,
      hidden,
      hidden,
    );
    const attnRes = g.op("Add", `${n}/attention_residual`, [attnOut, x]);
    const h = layerNorm(`${n}/attention_layer_norm`, attnRes, `${p}.attention.output.LayerNorm`);

    // Exact GELU: 0.5 · x · (1 + erf(x / √2)).
    const inter = dense(
      `${n}/intermediate`,
      h,
      `${p}.intermediate.dense`,
      cfg.intermediate_size,
      hidden,
    );
    const erf = g.op("Erf", `${n}/gelu_erf`, [g.op("Div", `${n}/gelu_div`, [inter, sqrtTwo])]);
    const gelu = g.op("Mul", `${n}/gelu`, [
      g.op("Mul", `${n}/gelu_half`, [inter, half]),
      g.op("Add", `${n}/gelu_add`, [erf, one]),
    ]);
    const out = dense(`${n}/output`, gelu, `${p}.output.dense`, hidden, cfg.intermediate_size);
    const outRes = g.op("Add", `${n}/output_residual`, [out, h]);
    x = layerNorm(`${n}/output_layer_norm`, outRes, `${p}.output.LayerNorm`);
  }
  const lastHidden = g.op("Identity", "last_hidden_state", [x]);

  let pooled: string;
  if (pooling === "mean") {
    // Sum of the attended token vectors over their count (at least 1e-9, as sentence-transformers).
    const mask3d = g.op("Unsqueeze", "pool/mask", [maskFloat, axis2]);
    const summed = g.op("ReduceSum", "pool/sum", [g.op("Mul", "pool/masked", [x, mask3d]), axis1], {
      attrs: { keepdims: 0 },
    });
    const counts = g.op("ReduceSum", "pool/count", [mask3d, axis1], { attrs: { keepdims: 0 } });
    const clamped = g.op("Max", "pool/count_clamped", [
      counts,
      g.constFloat("const/min_count", 1e-9),
    ]);
    pooled = g.op("Div", "pool/mean", [summed, clamped]);
  } else {
    pooled = g.op("Gather", "pool/cls", [x, g.constInt64("const/cls_index", 0)], {
      attrs: { axis: 1 },
    });
  }
  if (normalize) {
    const squares = g.op("Mul", "normalize/squares", [pooled, pooled]);
    const norm = g.op("Sqrt", "normalize/norm", [
      g.op("ReduceSum", "normalize/sum_squares", [squares, axisLast], { attrs: { keepdims: 1 } }),
    ]);
    // torch.nn.functional.normalize's eps keeps an all-zero vector finite.
    const clamped = g.op("Max", "normalize/norm_clamped", [
      norm,
      g.constFloat("const/min_norm", 1e-12),
    ]);
    pooled = g.op("Div", "normalize/divide", [pooled, clamped]);
  }
  g.op("Identity", "sentence_embedding", [pooled]);

  g.output(lastHidden, TensorDataType.FLOAT, ["batch", "sequence", hidden]);
  g.output("sentence_embedding", TensorDataType.FLOAT, ["batch", hidden]);

  return {
    irVersion: BERT_IR_VERSION,
    opsetVersion: BERT_OPSET,
    producerName,
    producerVersion: "1",
    graph: g.build("bert"),
    metadata: { ...metadata, pooling, normalize: String(normalize) },
  };
}
