import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "./onnx_graph_builder.ts";
import { encodeOnnxModel, type OnnxModel, TensorDataType } from "./onnx_proto.ts";

function addModel(): OnnxModel {
  const g = new GraphBuilder();
  const x = g.input("x", TensorDataType.FLOAT, ["n", 3]);
  const bias = g.constFloat("bias", [1, 2, 3]);
  const sum = g.op("Add", "sum", [x, bias]);
  g.op("ReduceSum", "total", [sum, g.constInt64("axes", [1])], { attrs: { keepdims: 0 } });
  g.output("sum", TensorDataType.FLOAT, ["n", 3]);
  g.output("total", TensorDataType.FLOAT, ["n"]);
  return {
    irVersion: 8,
    opsetVersion: 17,
    producerName: "test",
    producerVersion: "1",
    graph: g.build("add"),
    metadata: { b: "2", a: "1" },
  };
}

Deno.test("encodeOnnxModel() writes a graph that ONNX Runtime loads and runs", async () => {
  const session = await ort.InferenceSession.create(encodeOnnxModel(addModel()));
  try {
    assert.deepEqual(session.inputNames, ["x"]);
    assert.deepEqual(session.outputNames, ["sum", "total"]);
    const x = new ort.Tensor("float32", Float32Array.of(1, 1, 1, 10, 20, 30), [2, 3]);
    const out = await session.run({ x });
    assert.deepEqual([...(out.sum!.data as Float32Array)], [2, 3, 4, 11, 22, 33]);
    assert.deepEqual([...(out.total!.data as Float32Array)], [9, 66]);
  } finally {
    await session.release();
  }
});

Deno.test("encodeOnnxModel() gives the same bytes for the same model", () => {
  assert.deepEqual(encodeOnnxModel(addModel()), encodeOnnxModel(addModel()));
});

Deno.test("GraphBuilder refuses undefined inputs and names defined twice", () => {
  const g = new GraphBuilder();
  g.input("x", TensorDataType.FLOAT, [1]);
  assert.throws(() => g.op("Relu", "r", ["nope"]), /input nope is not defined/);
  assert.throws(() => g.constFloat("x", 1), /defined twice: x/);
  assert.throws(() => g.build("empty"), /no outputs/);
});
