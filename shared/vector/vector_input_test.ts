import assert from "node:assert/strict";
import { checkIds, checkPoints, checkSearchOptions, checkVector } from "./vector_input.ts";

const payload = { collection_id: "c", document_id: "d", uri: "/a", chunk_index: 0 };
const ID1 = "00000000-0000-5000-8000-000000000001";
const ID2 = "00000000-0000-5000-8000-000000000002";

Deno.test("checkVector() returns a Float32Array and rejects unusable vectors", () => {
  assert.deepEqual(checkVector("x", [1, 2]), new Float32Array([1, 2]));
  const f = new Float32Array([0, 1]);
  assert.equal(checkVector("x", f), f);
  assert.throws(() => checkVector("x", []), RangeError);
  assert.throws(() => checkVector("x", [0, 0]), /zero vector/);
  assert.throws(() => checkVector("x", [1e-50]), /zero vector/);
  assert.throws(() => checkVector("x", [1, Number.NaN]), /component 1 must be a finite number/);
  assert.throws(() => checkVector("x", [1, Infinity]), RangeError);
  assert.throws(() => checkVector("x", [1, "2"]), RangeError);
  assert.throws(() => checkVector("x", "1,2"), TypeError);
});

Deno.test("checkPoints() keeps the last of repeated ids and lower-cases ids", () => {
  const out = checkPoints("col_a", [
    { id: ID1.toUpperCase(), vector: [1, 0], payload },
    { id: ID2, vector: [0, 1], payload },
    { id: ID1, vector: [1, 1], payload: { ...payload, chunk_index: 7, extra: "kept" } },
  ]);
  assert.equal(out.length, 2);
  assert.equal(out[0]!.id, ID1);
  assert.deepEqual(out[0]!.vector, new Float32Array([1, 1]));
  assert.equal(out[0]!.payload.chunk_index, 7);
  assert.equal(out[0]!.payload.extra, "kept");
});

Deno.test("checkPoints() names the bad point and field", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["not an array", "x", /points must be an array/],
    ["bad id", [{ id: "1", vector: [1], payload }], /point 0 is invalid: id must be a UUID/],
    [
      "missing uri",
      [{ id: ID1, vector: [1], payload: { ...payload, uri: undefined } }],
      /point 0 is invalid: payload\.uri/,
    ],
    [
      "negative chunk",
      [{ id: ID1, vector: [1], payload: { ...payload, chunk_index: -1 } }],
      /payload\.chunk_index/,
    ],
    [
      "reserved key",
      [{ id: ID1, vector: [1], payload: { ...payload, _uri_prefixes: [] } }],
      /reserved payload key _uri_prefixes/,
    ],
    [
      "mixed dimensions",
      [{ id: ID1, vector: [1, 2], payload }, { id: ID2, vector: [1], payload }],
      /point 1 has 1 dimensions, point 0 has 2/,
    ],
  ];
  for (const [name, points, re] of cases) {
    await t.step(name, () => assert.throws(() => checkPoints("col_a", points), re));
  }
});

Deno.test("checkIds() requires UUIDs and removes repeats", () => {
  assert.deepEqual(checkIds("x", [ID1, ID1.toUpperCase(), ID2]), [ID1, ID2]);
  assert.throws(() => checkIds("x", ["nope"]), /point ids must be UUIDs, got "nope"/);
});

Deno.test("checkSearchOptions() validates k and normalizes the prefix", () => {
  assert.deepEqual(checkSearchOptions("c", { k: 3, uriPrefix: "/docs/" }), {
    k: 3,
    scoreThreshold: undefined,
    documentIds: undefined,
    uriPrefix: "/docs",
  });
  assert.throws(() => checkSearchOptions("c", { k: 0 }), /k/);
  assert.throws(() => checkSearchOptions("c", { k: 1001 }), /k/);
  assert.throws(() => checkSearchOptions("c", { k: 1.5 }), /k/);
  assert.throws(() => checkSearchOptions("c", { k: 1, scoreThreshold: Number.NaN }), TypeError);
  assert.throws(() => checkSearchOptions("c", { k: 1, uriPrefix: "" }), TypeError);
  assert.throws(() => checkSearchOptions("c", { k: 1, documentIds: [""] }), TypeError);
});
