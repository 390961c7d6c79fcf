import assert from "node:assert/strict";
import {
  encodeFloat4Array,
  encodeVectorArray,
  FLOAT4_ARRAY_OID,
  MAX_BINARY_DIMENSION,
} from "./pgvector_binary.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

Deno.test("encodeVectorArray writes array_recv's header and vector_recv's elements, big-endian", () => {
  // Two vectors of type oid 0x00004001 (16385): [1, -2] and [0.5].
  const bytes = encodeVectorArray([Float32Array.of(1, -2), Float32Array.of(0.5)], 16385);
  const expected = [
    "00 00 00 01", // one array dimension
    "00 00 00 00", // no nulls
    "00 00 40 01", // element type oid
    "00 00 00 02", // two elements
    "00 00 00 01", // lower bound 1
    "00 00 00 0c", // element 1: 12 bytes
    "00 02 00 00", // 2 dimensions, unused 0
    "3f 80 00 00", // 1.0f
    "c0 00 00 00", // -2.0f
    "00 00 00 08", // element 2: 8 bytes
    "00 01 00 00", // 1 dimension, unused 0
    "3f 00 00 00", // 0.5f
  ].join(" ");
  assert.equal(hex(bytes), expected);
});

Deno.test("encodeVectorArray writes an empty array with no dimensions", () => {
  assert.equal(hex(encodeVectorArray([], 7)), "00 00 00 00 00 00 00 00 00 00 00 07");
});

Deno.test("encodeVectorArray refuses a vector whose dimensions an int16 cannot state", () => {
  const wide = new Float32Array(MAX_BINARY_DIMENSION + 1);
  assert.throws(() => encodeVectorArray([wide], 1), /32768 dimensions: at most 32767/);
  assert.equal(encodeVectorArray([wide.subarray(1)], 1).length, 20 + 8 + 4 * 32767);
});

Deno.test("encodeFloat4Array writes one float4[] of each float32, big-endian", () => {
  assert.equal(FLOAT4_ARRAY_OID, 1021);
  const expected = [
    "00 00 00 01", // one array dimension
    "00 00 00 00", // no nulls
    "00 00 02 bc", // element type: float4 (700)
    "00 00 00 02", // two elements
    "00 00 00 01", // lower bound 1
    "00 00 00 04 bf 80 00 00", // -1.0f
    "00 00 00 04 3e 80 00 00", // 0.25f
  ].join(" ");
  assert.equal(hex(encodeFloat4Array(Float32Array.of(-1, 0.25))), expected);
});
