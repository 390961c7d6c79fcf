import assert from "node:assert/strict";
import { float16ToFloat32, parseSafetensors, toFloat32 } from "./safetensors.ts";

function safetensorsFile(
  tensors: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.bytes.length],
    };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(8 + json.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    file.set(t.bytes, at);
    at += t.bytes.length;
  }
  return file;
}

Deno.test("float16ToFloat32() decodes normal, subnormal and special values", () => {
  assert.equal(float16ToFloat32(0x3c00), 1);
  assert.equal(float16ToFloat32(0xc000), -2);
  assert.equal(float16ToFloat32(0x3555), 0.333251953125);
  assert.equal(float16ToFloat32(0x7bff), 65504);
  assert.equal(float16ToFloat32(0x0001), 2 ** -24);
  assert.equal(float16ToFloat32(0x0000), 0);
  assert.ok(Object.is(float16ToFloat32(0x8000), -0));
  assert.equal(float16ToFloat32(0x7c00), Infinity);
  assert.equal(float16ToFloat32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(float16ToFloat32(0x7e00)));
});

Deno.test("parseSafetensors() reads F16, BF16 and F32 tensors as float32", () => {
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800]).buffer);
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer); // 1, -3
  const f32 = new Uint8Array(Float32Array.of(0.1, 2.5).buffer);
  const file = safetensorsFile({
    a: { dtype: "F16", shape: [3], bytes: f16 },
    b: { dtype: "BF16", shape: [2, 1], bytes: bf16 },
    c: { dtype: "F32", shape: [2], bytes: f32 },
  });
  const tensors = parseSafetensors(file);
  assert.deepEqual([...tensors.keys()], ["a", "b", "c"]);
  assert.deepEqual([...toFloat32(tensors.get("a")!)], [1, -2, 0.5]);
  assert.deepEqual(tensors.get("b")!.shape, [2, 1]);
  assert.deepEqual([...toFloat32(tensors.get("b")!)], [1, -3]);
  assert.deepEqual([...toFloat32(tensors.get("c")!)], [...Float32Array.of(0.1, 2.5)]);
});

Deno.test("parseSafetensors() rejects offsets that do not match the shape", () => {
  const file = safetensorsFile({ a: { dtype: "F32", shape: [3], bytes: new Uint8Array(8) } });
  assert.throws(() => parseSafetensors(file), /tensor a has bad offsets/);
  assert.throws(() => parseSafetensors(new Uint8Array(4)), /file too short/);
});

Deno.test("toFloat32() refuses integer tensors", () => {
  const file = safetensorsFile({ ids: { dtype: "I64", shape: [1], bytes: new Uint8Array(8) } });
  assert.throws(() => toFloat32(parseSafetensors(file).get("ids")!), /I64 is not a float type/);
});
