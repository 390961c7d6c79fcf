/**
 * The ceiling of `bench:embed`: onnxruntime's own throughput on the model's matrix products
 * alone (per layer Q, K, V, attention output, intermediate, output; six layers), int8 (the same
 * DynamicQuantizeLinear + MatMulInteger chain as the model) or fp32, on one [tokens, hidden]
 * input with no padding. Attention, norms, embeddings and pooling are left out, so a whole model
 * cannot reach it: tokens/s over this is the fraction of the machine's matrix speed the
 * embedder turns into vectors.
 */
import * as ort from "onnxruntime-node";
import { quantizePerColumn } from "../shared/embedding/bert_onnx.ts";
import { GraphBuilder } from "../shared/embedding/onnx_graph_builder.ts";
import { encodeOnnxModel, TensorDataType } from "../shared/embedding/onnx_proto.ts";
import { seededRandom } from "../shared/embedding/seeded_random.ts";

const HIDDEN = 384;
const INTERMEDIATE = 1536;
const LAYERS = 6;

function matmulModel(precision: "fp32" | "int8"): Uint8Array {
  const g = new GraphBuilder();
  const next = seededRandom(3);
  let x = g.input("x", TensorDataType.FLOAT, ["tokens", HIDDEN]);
  const shapes: [number, number][] = [
    [HIDDEN, HIDDEN],
    [HIDDEN, HIDDEN],
    [HIDDEN, HIDDEN],
    [HIDDEN, HIDDEN],
    [HIDDEN, INTERMEDIATE],
    [INTERMEDIATE, HIDDEN],
  ];
  for (let layer = 0; layer < LAYERS; layer++) {
    shapes.forEach(([rows, cols], k) => {
      const name = `l${layer}_${k}`;
      const w = new Float32Array(rows * cols);
      // Variance-preserving weights (uniform with variance 1/rows): activations keep their
      // scale through all 36 products instead of sinking into slow denormal floats.
      for (let i = 0; i < w.length; i++) w[i] = (next() - 0.5) * Math.sqrt(12 / rows);
      if (precision === "fp32") {
        x = g.op("MatMul", name, [x, g.initializer(`${name}/w`, [rows, cols], w)]);
        return;
      }
      const { data, scales } = quantizePerColumn(w, { rows, cols });
      const [q, s, z] = g.node("DynamicQuantizeLinear", `${name}/quantize`, [x], {
        outputs: 3,
      }) as [string, string, string];
      const product = g.op("MatMulInteger", `${name}/product`, [
        q,
        g.initializer(`${name}/w`, [rows, cols], data),
        z,
        g.initializer(`${name}/wz`, [cols], new Int8Array(cols)),
      ]);
      const asFloat = g.op("Cast", `${name}/cast`, [product], {
        attrs: { to: TensorDataType.FLOAT },
      });
      x = g.op("Mul", name, [
        asFloat,
        g.op("Mul", `${name}/scale`, [s, g.initializer(`${name}/ws`, [cols], scales)]),
      ]);
    });
  }
  g.op("Identity", "y", [x]);
  g.output("y", TensorDataType.FLOAT, ["tokens", HIDDEN]);
  return encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 17,
    producerName: "bench",
    producerVersion: "1",
    graph: g.build("ceiling"),
    metadata: {},
  });
}

export interface Ceiling {
  /** Rows of one run. */
  tokens: number;
  /** One run of the matrix products on `tokens` rows. */
  run(): Promise<void>;
  close(): Promise<void>;
}

/** The matrix products of the model on `tokens` rows, ready to time. */
export async function openCeiling(
  precision: "fp32" | "int8",
  threads: number,
  tokens: number,
): Promise<Ceiling> {
  const session = await ort.InferenceSession.create(matmulModel(precision), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  });
  const data = new Float32Array(tokens * HIDDEN);
  const next = seededRandom(5);
  for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  const feeds = { x: new ort.Tensor("float32", data, [tokens, HIDDEN]) };
  return {
    tokens,
    async run() {
      await session.run(feeds);
    },
    async close() {
      await session.release();
    },
  };
}
