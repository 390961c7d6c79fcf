import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { buildBertOnnx, quantizePerColumn } from "./bert_onnx.ts";
import { encodeOnnxModel } from "./onnx_proto.ts";
import { seededRandom } from "./seeded_random.ts";
import { bertWeightShape, TINY_BERT_CONFIG } from "./tiny_model.ts";

Deno.test("quantizePerColumn() gives each column its own scale and the full 7-bit range, never past ±63", () => {
  // Column 0 spans ±1, column 1 ±0.01: one scale for both would flatten column 1 to a few steps.
  const w = Float32Array.of(1, 0.01, -0.4, -0.004, 0.25, 0.0025);
  const { data, scales } = quantizePerColumn(w, { rows: 3, cols: 2 });
  assert.deepEqual([...scales].map((s) => Number((s * 63).toFixed(6))), [1, 0.01]);
  // 1 x 63, -0.4 x 63 = -25.2, 0.25 x 63 = 15.75: 255 x 63 x 2 fits a 16-bit pair sum.
  assert.deepEqual([...data], [63, 63, -25, -25, 16, 16]);
  // An all-zero column keeps a usable scale.
  assert.deepEqual([...quantizePerColumn(new Float32Array(2), { rows: 2, cols: 1 }).scales], [1]);
});

/** The tiny config's weights, the same for every graph built from them. */
function weights() {
  const next = seededRandom(11);
  const cache = new Map<string, { shape: number[]; data: Float32Array }>();
  const cfg = TINY_BERT_CONFIG;
  return {
    config: cfg,
    weight(name: string) {
      let w = cache.get(name);
      if (!w) {
        const shape = bertWeightShape(name, cfg);
        const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
        for (let i = 0; i < data.length; i++) {
          data[i] = name.includes("LayerNorm.weight") ? 1 + 0.1 * next() : next() - 0.5;
        }
        cache.set(name, w = { shape, data });
      }
      return w;
    },
  };
}

/** sentence_embedding and last_hidden_state of a padded batch of three texts. */
async function run(bytes: Uint8Array): Promise<{ pooled: Float32Array; hidden: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const lengths = [9, 4, 1];
    const width = 9;
    const ids = new BigInt64Array(3 * width);
    const mask = new BigInt64Array(3 * width);
    lengths.forEach((n, r) => {
      for (let t = 0; t < n; t++) {
        ids[r * width + t] = BigInt(5 + ((r * 7 + t * 3) % 40));
        mask[r * width + t] = 1n;
      }
    });
    const dims = [3, width];
    const out = await session.run({
      input_ids: new ort.Tensor("int64", ids, dims),
      attention_mask: new ort.Tensor("int64", mask, dims),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(3 * width), dims),
    });
    const hidden = out.last_hidden_state!.data as Float32Array;
    // Padded positions are not part of the answer: keep the real tokens only.
    const real: number[] = [];
    const h = TINY_BERT_CONFIG.hidden_size;
    lengths.forEach((n, r) => real.push(...hidden.slice(r * width * h, (r * width + n) * h)));
    return {
      pooled: out.sentence_embedding!.data as Float32Array,
      hidden: Float32Array.from(real),
    };
  } finally {
    await session.release();
  }
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

Deno.test("the fused graph (contrib operators) computes what the standard one does", async () => {
  // One source for every graph: its weights are drawn in the order first asked for, and cached.
  const source = weights();
  for (const precision of ["fp32", "int8"] as const) {
    const plain = await run(encodeOnnxModel(buildBertOnnx(source, { precision })));
    const fusedModel = buildBertOnnx(source, { precision, fused: true });
    const ops = new Set(fusedModel.graph.nodes.map((n) => n.opType));
    for (const op of ["MultiHeadAttention", "SkipLayerNormalization", "BiasGelu"]) {
      assert.ok(ops.has(op), `${precision} fused graph uses ${op}`);
    }
    const fused = await run(encodeOnnxModel(fusedModel));
    // Float32: only summation order differs. Int8: the same quantization of the same inputs,
    // so differences stay at float rounding unless a rounding flips one quantization step.
    const tolerance = precision === "fp32" ? 1e-4 : 2e-2;
    const dh = maxDifference(plain.hidden, fused.hidden);
    const dp = maxDifference(plain.pooled, fused.pooled);
    assert.ok(dh < tolerance, `${precision} last_hidden_state differs by ${dh}`);
    assert.ok(dp < tolerance, `${precision} sentence_embedding differs by ${dp}`);
  }
});

Deno.test("the int8 graph quantizes every Linear layer and keeps norms and softmax in float", () => {
  const model = buildBertOnnx(weights(), { precision: "int8" });
  const count = (op: string) => model.graph.nodes.filter((n) => n.opType === op).length;
  const layers = TINY_BERT_CONFIG.num_hidden_layers;
  // Q, K, V, attention output, intermediate, output: six per layer.
  assert.equal(count("MatMulInteger"), 6 * layers);
  assert.equal(count("DynamicQuantizeLinear"), 6 * layers);
  assert.equal(count("LayerNormalization"), 1 + 2 * layers);
  assert.equal(count("Softmax"), layers);
  // The float MatMuls left are the attention products (scores and context).
  assert.equal(count("MatMul"), 2 * layers);
});
