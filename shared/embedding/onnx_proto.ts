/**
 * The few ONNX protobuf messages the converter writes, with field numbers from onnx.proto
 * (onnx/onnx, proto2). Encoding is deterministic: fields go out in ascending field number,
 * repeated fields in the order given, and nothing time- or host-dependent is written.
 */
import protobuf from "protobufjs";

/** `TensorProto.DataType` values used here. */
export const TensorDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  FLOAT16: 10,
} as const;
export type TensorDataType = (typeof TensorDataType)[keyof typeof TensorDataType];

/** `AttributeProto.AttributeType` values used here. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: TensorDataType;
  /** Little-endian element bytes, as ONNX's `raw_data` requires. */
  rawData: Uint8Array;
}

export type OnnxAttribute =
  | { name: string; type: typeof AttributeType.FLOAT; f: number }
  | { name: string; type: typeof AttributeType.INT; i: number }
  | { name: string; type: typeof AttributeType.STRING; s: string }
  | { name: string; type: typeof AttributeType.TENSOR; t: OnnxTensor }
  | { name: string; type: typeof AttributeType.FLOATS; floats: number[] }
  | { name: string; type: typeof AttributeType.INTS; ints: number[] };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
  /** The operator set: "" (ONNX) or "com.microsoft" (ONNX Runtime's contrib ops). */
  domain?: string;
}

export interface OnnxValueInfo {
  name: string;
  elemType: TensorDataType;
  /** A number is a fixed size, a string a symbolic one (`batch`, `sequence`). */
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  /** IR version 8 goes with opset 17. */
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  /** Written as `metadata_props`, in key order. */
  metadata: Record<string, string>;
}

/** ONNX Runtime's contrib operator set, version 1. */
export const MICROSOFT_DOMAIN = "com.microsoft";

const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: "string", id: 1 },
            f: { type: "float", id: 2 },
            i: { type: "int64", id: 3 },
            s: { type: "bytes", id: 4 },
            t: { type: "TensorProto", id: 5 },
            floats: { rule: "repeated", type: "float", id: 7, options: { packed: true } },
            ints: { rule: "repeated", type: "int64", id: 8, options: { packed: true } },
            type: { type: "int32", id: 20 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: "string", id: 1 },
            type: { type: "TypeProto", id: 2 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: "repeated", type: "string", id: 1 },
            output: { rule: "repeated", type: "string", id: 2 },
            name: { type: "string", id: 3 },
            op_type: { type: "string", id: 4 },
            attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
            domain: { type: "string", id: 7 },
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: "int64", id: 1 },
            producer_name: { type: "string", id: 2 },
            producer_version: { type: "string", id: 3 },
            graph: { type: "GraphProto", id: 7 },
            opset_import: { rule: "repeated", type: "OperatorSetIdProto", id: 8 },
            metadata_props: { rule: "repeated", type: "StringStringEntryProto", id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: "string", id: 1 },
            value: { type: "string", id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: "repeated", type: "NodeProto", id: 1 },
            name: { type: "string", id: 2 },
            initializer: { rule: "repeated", type: "TensorProto", id: 5 },
            input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
            output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: "repeated", type: "int64", id: 1, options: { packed: true } },
            data_type: { type: "int32", id: 2 },
            name: { type: "string", id: 8 },
            raw_data: { type: "bytes", id: 9 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: "repeated", type: "Dimension", id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ["dim_value", "dim_param"] } },
              fields: {
                dim_value: { type: "int64", id: 1 },
                dim_param: { type: "string", id: 2 },
              },
            },
          },
        },
        TypeProto: {
          fields: {
            tensor_type: { type: "Tensor", id: 1 },
          },
          nested: {
            Tensor: {
              fields: {
                elem_type: { type: "int32", id: 1 },
                shape: { type: "TensorShapeProto", id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: "string", id: 1 },
            version: { type: "int64", id: 2 },
          },
        },
      },
    },
  },
};

let modelType: protobuf.Type | undefined;
function getModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType("onnx.ModelProto");
  return modelType;
}

function tensorMessage(t: OnnxTensor) {
  return { dims: t.dims, data_type: t.dataType, name: t.name, raw_data: t.rawData };
}

function attributeMessage(a: OnnxAttribute) {
  const base = { name: a.name, type: a.type };
  switch (a.type) {
    case AttributeType.FLOAT:
      return { ...base, f: a.f };
    case AttributeType.INT:
      return { ...base, i: a.i };
    case AttributeType.STRING:
      return { ...base, s: new TextEncoder().encode(a.s) };
    case AttributeType.TENSOR:
      return { ...base, t: tensorMessage(a.t) };
    case AttributeType.FLOATS:
      return { ...base, floats: a.floats };
    case AttributeType.INTS:
      return { ...base, ints: a.ints };
  }
}

function valueInfoMessage(v: OnnxValueInfo) {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: v.elemType,
        shape: {
          dim: v.shape.map((d) => typeof d === "number" ? { dim_value: d } : { dim_param: d }),
        },
      },
    },
  };
}

/** Serialises a model to the bytes of a `.onnx` file. The same model gives the same bytes. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const g = model.graph;
  const message = {
    ir_version: model.irVersion,
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    graph: {
      node: g.nodes.map((n) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name,
        op_type: n.opType,
        attribute: n.attributes.map(attributeMessage),
        ...(n.domain ? { domain: n.domain } : {}),
      })),
      name: g.name,
      initializer: g.initializers.map(tensorMessage),
      input: g.inputs.map(valueInfoMessage),
      output: g.outputs.map(valueInfoMessage),
    },
    opset_import: [
      { domain: "", version: model.opsetVersion },
      // Declared only when used, so models without contrib ops keep their bytes.
      ...(g.nodes.some((n) => n.domain === MICROSOFT_DOMAIN)
        ? [{ domain: MICROSOFT_DOMAIN, version: 1 }]
        : []),
    ],
    metadata_props: Object.keys(model.metadata).sort().map((key) => ({
      key,
      value: model.metadata[key],
    })),
  };
  const type = getModelType();
  const invalid = type.verify(message);
  if (invalid) throw new TypeError(`Cannot encode ONNX model: ${invalid}`);
  return type.encode(message).finish();
}
