/**
 * Builds a standard BERT encoder as an ONNX graph (opset 17) from its weights, the way
 * Hugging Face's `BertModel` computes it, plus sentence-transformers pooling:
 *
 * inputs  `input_ids`, `attention_mask`, `token_type_ids`: int64 [batch, sequence]
 * outputs `last_hidden_state` float32 [batch, sequence, hidden]
 *         `sentence_embedding` float32 [batch, hidden] (pooled, normalised when asked)
 *
 * Precisions (`precision`):
 * - `fp32`: float32 weights and arithmetic.
 * - `int8`: every Linear layer's weight quantized per output channel (symmetric, one scale per
 *   column) to 7 bits ([-63, 63] in int8: see {@link WEIGHT_LEVELS}); its input quantized per
 *   tensor at run time (`DynamicQuantizeLinear`, uint8), the product in integers
 *   (`MatMulInteger`) rescaled by input scale × column scale. ONNX Runtime fuses that chain into
 *   its integer GEMM kernels (VNNI where the CPU has it). Embeddings, attention scores, softmax
 *   and layer norms stay float32.
 *
 * Fused (`fused`, default false): the graph uses ONNX Runtime's contrib operators (domain
 * `com.microsoft`) where it has them: Q, K and V as one projection feeding `MultiHeadAttention`
 * (bias and padding mask inside), `SkipLayerNormalization` for residual + bias + LayerNorm,
 * `BiasGelu` for bias + exact GELU. Unfused, only standard ops are used (Gather, Add,
 * LayerNormalization, MatMul, Reshape, Transpose, Softmax, Erf, ReduceSum, ...), for runtimes
 * without contrib ops. Both compute the same function.
 */
import { z } from "zod";
import { float, GraphBuilder } from "./onnx_graph_builder.ts";
import { MICROSOFT_DOMAIN, type OnnxModel, TensorDataType } from "./onnx_proto.ts";

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
  /** Weights and matrix products: see the module comment. @default {"fp32"} */
  precision?: "fp32" | "int8";
  /**
   * Use ONNX Runtime's fused contrib operators. Off by default: on the CPUs measured the plain
   * graph, which ONNX Runtime fuses itself, ran faster (bench/README.md). @default {false}
   */
  fused?: boolean;
}

/**
 * Weight levels either side of zero. 7 bits, not 8: on x86 CPUs without VNNI (AVX2, AVX-512
 * without VNNI) ONNX Runtime's uint8 x int8 kernel adds pairs of products in 16 bits
 * (`vpmaddubsw`), which saturates when 255 x |w| x 2 passes 32,767, so 8-bit weights there give
 * vectors that depend on their batch neighbours (measured on an AMD EPYC: cosine 0.974 between a
 * short text alone and in a batch). 255 x 63 x 2 = 32,130 never saturates, on every CPU; the
 * same choice as ONNX Runtime's `reduce_range` for such CPUs.
 */
export const WEIGHT_LEVELS = 63;

/**
 * A [in, out] weight quantized per output column: symmetric (zero point 0) with scale
 * max|column| / {@link WEIGHT_LEVELS}, so every column uses the whole range.
 */
export function quantizePerColumn(
  w: Float32Array,
  { rows, cols }: { rows: number; cols: number },
): { data: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(w[r * cols + c]!);
      if (a > scales[c]!) scales[c] = a;
    }
  }
  for (let c = 0; c < cols; c++) scales[c] = scales[c]! > 0 ? scales[c]! / WEIGHT_LEVELS : 1;
  const data = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const q = Math.round(w[r * cols + c]! / scales[c]!);
      data[r * cols + c] = Math.max(-WEIGHT_LEVELS, Math.min(WEIGHT_LEVELS, q));
    }
  }
  return { data, scales };
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
  const {
    pooling = "mean",
    normalize = true,
    producerName = "semantik",
    metadata = {},
    precision = "fp32",
    fused = false,
  } = options;
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
  /** A Linear layer's weight as [in, out] (so that x·w computes x·Wᵀ). */
  const linearData = (name: string, outSize: number, inSize: number) =>
    transpose2d(expect(`${name}.weight`, [outSize, inSize]), name);

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
  // (Unfused only: MultiHeadAttention takes the mask itself.)
  const maskBias = fused ? "" : g.op("Mul", "mask/bias", [
    g.op("Sub", "mask/inverted", [
      one,
      g.op("Unsqueeze", "mask/expanded", [maskFloat, axes12]),
    ]),
    maskValue,
  ]);

  /**
   * input · w for a [in, out] weight `w` named `weightName`: a float MatMul, or in int8 the
   * dynamic quantization chain (see the module comment).
   */
  const matmul = (
    name: string,
    input: string,
    weightName: string,
    w: Float32Array,
    inSize: number,
    outSize: number,
  ) => {
    if (precision === "fp32") {
      return g.op("MatMul", `${name}/matmul`, [
        input,
        g.initializer(weightName, [inSize, outSize], w),
      ]);
    }
    const { data, scales } = quantizePerColumn(w, { rows: inSize, cols: outSize });
    const wq = g.initializer(`${weightName}_quantized`, [inSize, outSize], data);
    const ws = g.initializer(`${weightName}_scale`, [outSize], scales);
    const wz = g.initializer(`${weightName}_zero_point`, [outSize], new Int8Array(outSize));
    const [xq, xs, xz] = g.node("DynamicQuantizeLinear", `${name}/quantize`, [input], {
      outputs: 3,
    }) as [string, string, string];
    const product = g.op("MatMulInteger", `${name}/matmul_integer`, [xq, wq, xz, wz]);
    const asFloat = g.op("Cast", `${name}/cast`, [product], {
      attrs: { to: TensorDataType.FLOAT },
    });
    const scale = g.op("Mul", `${name}/scale`, [xs, ws]);
    return g.op("Mul", `${name}/rescale`, [asFloat, scale]);
  };
  const linearNoBias = (
    name: string,
    input: string,
    prefix: string,
    outSize: number,
    inSize: number,
  ) =>
    matmul(name, input, `${prefix}.weight`, linearData(prefix, outSize, inSize), inSize, outSize);
  const dense = (name: string, input: string, prefix: string, outSize: number, inSize: number) =>
    g.op("Add", `${name}/bias`, [
      linearNoBias(name, input, prefix, outSize, inSize),
      vector(`${prefix}.bias`, outSize),
    ]);
  /** LayerNorm(x + y + bias) in one contrib op. */
  const skipLayerNorm = (name: string, x: string, skip: string, bias: string, prefix: string) =>
    g.op("SkipLayerNormalization", name, [
      x,
      skip,
      vector(`${prefix}.weight`, hidden),
      vector(`${prefix}.bias`, hidden),
      bias,
    ], { attrs: { epsilon: float(cfg.layer_norm_eps) }, domain: MICROSOFT_DOMAIN });
  // The padding mask as MultiHeadAttention wants it: int32 [batch, sequence], 1 = attended.
  const maskInt32 = fused
    ? g.op("Cast", "mask/int32", [attentionMask], { attrs: { to: TensorDataType.INT32 } })
    : "";

  for (let layer = 0; layer < cfg.num_hidden_layers && fused; layer++) {
    const p = `encoder.layer.${layer}`;
    const n = `layer${layer}`;
    const a = `${p}.attention.self`;
    // Q, K and V as one [hidden, 3·hidden] product, biases added inside the attention op.
    const qkvWeight = new Float32Array(hidden * 3 * hidden);
    const parts = [`${a}.query`, `${a}.key`, `${a}.value`].map((name) =>
      linearData(name, hidden, hidden)
    );
    for (let r = 0; r < hidden; r++) {
      parts.forEach((part, k) =>
        qkvWeight.set(part.subarray(r * hidden, (r + 1) * hidden), r * 3 * hidden + k * hidden)
      );
    }
    const qkvBias = new Float32Array(3 * hidden);
    [`${a}.query`, `${a}.key`, `${a}.value`].forEach((name, k) =>
      qkvBias.set(expect(`${name}.bias`, [hidden]).data, k * hidden)
    );
    const qkv = matmul(
      `${n}/qkv`,
      x,
      `${a}.qkv.weight`,
      qkvWeight,
      hidden,
      3 * hidden,
    );
    const [q, k, v] = g.node("Split", `${n}/qkv_split`, [qkv], {
      attrs: { axis: -1 },
      outputs: 3,
    }) as [string, string, string];
    const context = g.op("MultiHeadAttention", `${n}/attention`, [
      q,
      k,
      v,
      g.initializer(`${a}.qkv.bias`, [3 * hidden], qkvBias),
      maskInt32,
    ], { attrs: { num_heads: heads }, domain: MICROSOFT_DOMAIN });
    const attnOut = linearNoBias(
      `${n}/attention_output`,
      context,
      `${p}.attention.output.dense`,
      hidden,
      hidden,
    );
    const h = skipLayerNorm(
      `${n}/attention_layer_norm`,
      attnOut,
      x,
      vector(`${p}.attention.output.dense.bias`, hidden),
      `${p}.attention.output.LayerNorm`,
    );
    const inter = linearNoBias(
      `${n}/intermediate`,
      h,
      `${p}.intermediate.dense`,
      cfg.intermediate_size,
      hidden,
    );
    const gelu = g.op("BiasGelu", `${n}/gelu`, [
      inter,
      vector(`${p}.intermediate.dense.bias`, cfg.intermediate_size),
    ], { domain: MICROSOFT_DOMAIN });
    const out = linearNoBias(
      `${n}/output`,
      gelu,
      `${p}.output.dense`,
      hidden,
      cfg.intermediate_size,
    );
    x = skipLayerNorm(
      `${n}/output_layer_norm`,
      out,
      h,
      vector(`${p}.output.dense.bias`, hidden),
      `${p}.output.LayerNorm`,
    );
  }
  for (let layer = 0; layer < cfg.num_hidden_layers && !fused; layer++) {
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
    metadata: {
      ...metadata,
      pooling,
      normalize: String(normalize),
      precision,
      fused: String(fused),
    },
  };
}
