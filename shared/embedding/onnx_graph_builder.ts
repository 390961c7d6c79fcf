/**
 * A small helper to write ONNX graphs by hand: named initializers, nodes whose outputs are named
 * after the node, and a check that every name is defined once. Names are chosen by the caller, so
 * the same calls always give the same graph (and the same bytes).
 */
import {
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxTensor,
  type OnnxValueInfo,
  TensorDataType,
} from "./onnx_proto.ts";

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // raw_data is little-endian; typed arrays use the host's order.
  throw new Error("Cannot write ONNX tensors: this host is big-endian");
}

/**
 * Attribute values: a number is an int, a number array ints; wrap floats with {@link float} or
 * {@link floats}.
 */
export type AttributeValue =
  | number
  | string
  | number[]
  | OnnxTensor
  | { float: number }
  | { floats: number[] };

export interface NodeOptions {
  /** Attributes of the node, written in key order. @default {{}} */
  attrs?: Record<string, AttributeValue>;
  /** How many outputs the node has. @default {1} */
  outputs?: number;
  /** The operator's domain ("com.microsoft" for ONNX Runtime's contrib ops). @default {""} */
  domain?: string;
}

export function float(value: number): { float: number } {
  return { float: value };
}

export function floats(values: number[]): { floats: number[] } {
  return { floats: values };
}

/** Element data of an initializer; {@link Float16Bits} marks half floats kept as raw bits. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Int8Array | Float16Bits;

/** IEEE half floats as their 16-bit patterns (Deno's Float16Array is not everywhere yet). */
export class Float16Bits {
  readonly bits: Uint16Array;
  constructor(bits: Uint16Array) {
    this.bits = bits;
  }
  get length(): number {
    return this.bits.length;
  }
}

function bytesOf(data: TensorData): Uint8Array {
  const view = data instanceof Float16Bits ? data.bits : data;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export function tensor(
  name: string,
  { dims, data }: { dims: number[]; data: TensorData },
): OnnxTensor {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new RangeError(
      `Cannot make tensor ${name}: shape [${dims}] holds ${size} values, got ${data.length}`,
    );
  }
  const dataType = data instanceof Float32Array
    ? TensorDataType.FLOAT
    : data instanceof BigInt64Array
    ? TensorDataType.INT64
    : data instanceof Int8Array
    ? TensorDataType.INT8
    : data instanceof Float16Bits
    ? TensorDataType.FLOAT16
    : TensorDataType.INT32;
  return { name, dims, dataType, rawData: bytesOf(data) };
}

export class GraphBuilder {
  readonly #nodes: OnnxGraph["nodes"] = [];
  readonly #initializers: OnnxTensor[] = [];
  readonly #inputs: OnnxValueInfo[] = [];
  readonly #outputs: OnnxValueInfo[] = [];
  readonly #defined = new Set<string>();

  #define(name: string): string {
    if (this.#defined.has(name)) {
      throw new RangeError(`Cannot add to ONNX graph: name defined twice: ${name}`);
    }
    this.#defined.add(name);
    return name;
  }

  input(name: string, elemType: TensorDataType, shape: (number | string)[]): string {
    this.#inputs.push({ name: this.#define(name), elemType, shape });
    return name;
  }

  output(name: string, elemType: TensorDataType, shape: (number | string)[]): void {
    if (!this.#defined.has(name)) {
      throw new RangeError(`Cannot mark graph output: ${name} is not defined`);
    }
    this.#outputs.push({ name, elemType, shape });
  }

  initializer(name: string, dims: number[], data: TensorData) {
    this.#initializers.push(tensor(this.#define(name), { dims, data }));
    return name;
  }

  /** A float32 constant; a number is a scalar. */
  constFloat(name: string, value: number | number[]): string {
    return Array.isArray(value)
      ? this.initializer(name, [value.length], Float32Array.from(value))
      : this.initializer(name, [], Float32Array.of(value));
  }

  /** A 1-D int64 constant (shapes, axes, indices); a number is a scalar. */
  constInt64(name: string, value: number | number[]): string {
    return Array.isArray(value)
      ? this.initializer(name, [value.length], BigInt64Array.from(value.map(BigInt)))
      : this.initializer(name, [], BigInt64Array.of(BigInt(value)));
  }

  /**
   * Adds a node named `name`; its single output is also called `name` (several outputs:
   * `name:0`, `name:1`, ...). Returns the output names.
   */
  node(opType: string, name: string, inputs: string[], options: NodeOptions = {}): string[] {
    const { attrs = {}, outputs = 1, domain } = options;
    for (const input of inputs) {
      if (input !== "" && !this.#defined.has(input)) {
        throw new RangeError(`Cannot add node ${name}: input ${input} is not defined`);
      }
    }
    const outs = outputs === 1
      ? [this.#define(name)]
      : Array.from({ length: outputs }, (_, i) => this.#define(`${name}:${i}`));
    const attributes: OnnxAttribute[] = Object.keys(attrs).sort().map((key) =>
      toAttribute(key, attrs[key]!)
    );
    this.#nodes.push({
      name,
      opType,
      inputs,
      outputs: outs,
      attributes,
      ...(domain ? { domain } : {}),
    });
    return outs;
  }

  /** {@link node} for the common one-output case. */
  op(opType: string, name: string, inputs: string[], options?: NodeOptions): string {
    return this.node(opType, name, inputs, options)[0]!;
  }

  build(name: string): OnnxGraph {
    if (this.#outputs.length === 0) throw new RangeError(`Cannot build graph ${name}: no outputs`);
    return {
      name,
      nodes: [...this.#nodes],
      initializers: [...this.#initializers],
      inputs: [...this.#inputs],
      outputs: [...this.#outputs],
    };
  }
}

function toAttribute(name: string, value: AttributeValue): OnnxAttribute {
  if (typeof value === "string") return { name, type: 3, s: value };
  if (typeof value === "number") {
    if (!Number.isInteger(value)) {
      throw new TypeError(`Cannot set attribute ${name}: ${value} is not an integer`);
    }
    return { name, type: 2, i: value };
  }
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if ("float" in value) return { name, type: 1, f: value.float };
  if ("floats" in value) return { name, type: 6, floats: value.floats };
  return { name, type: 4, t: value };
}
