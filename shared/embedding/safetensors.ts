/**
 * Reads `.safetensors` files (an 8-byte little-endian header length, a JSON header, then the
 * tensors' bytes) and widens float16/bfloat16 weights to float32, which the converter writes:
 * fp32 graphs run on every execution provider and are exact enough for the known answers.
 */
import { z } from "zod";

export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's bytes, a view into the file. */
  bytes: Uint8Array;
}

const headerEntry = z.object({
  dtype: z.enum(["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"]),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Parses a safetensors file's bytes; tensors are views into `file`, not copies. */
export function parseSafetensors(file: Uint8Array): Map<string, SafetensorsTensor> {
  if (file.byteLength < 8) {
    throw new RangeError(`Cannot read safetensors: file too short (${file.byteLength} bytes)`);
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > file.byteLength) {
    throw new RangeError(`Cannot read safetensors: header length ${headerLength} exceeds file`);
  }
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength)));
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const entry = headerEntry.parse(raw);
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * ELEMENT_BYTES[entry.dtype] || dataStart + end > file.byteLength) {
      throw new RangeError(
        `Cannot read safetensors: tensor ${name} has bad offsets [${begin}, ${end}]`,
      );
    }
    tensors.set(name, {
      dtype: entry.dtype,
      shape: entry.shape,
      bytes: file.subarray(dataStart + begin, dataStart + end),
    });
  }
  return tensors;
}

/** The float32 value of IEEE 754 half-precision bits. */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

let halfTable: Float32Array | undefined;

/** A tensor's values as float32 (a fresh array; F16 and BF16 are widened exactly). */
export function toFloat32(t: SafetensorsTensor): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(count);
  switch (t.dtype) {
    case "F32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case "F64":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case "F16": {
      if (!halfTable) {
        halfTable = new Float32Array(65536);
        for (let b = 0; b < 65536; b++) halfTable[b] = float16ToFloat32(b);
      }
      for (let i = 0; i < count; i++) out[i] = halfTable[view.getUint16(i * 2, true)]!;
      return out;
    }
    case "BF16": {
      // bfloat16 is the upper half of a float32.
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        out[i] = word.getFloat32(0, true);
      }
      return out;
    }
    default:
      throw new TypeError(`Cannot read tensor as float32: dtype ${t.dtype} is not a float type`);
  }
}
