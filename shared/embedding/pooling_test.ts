import assert from "node:assert/strict";
import { l2Normalize, poolTokenStates } from "./pooling.ts";

// Two rows, three positions, width two; row 0 attends to 2 tokens, row 1 to 3.
const hidden = Float32Array.of(1, 2, 3, 4, 100, 100, 1, 1, 2, 2, 3, 3);

Deno.test("poolTokenStates() averages attended tokens only", () => {
  const [a, b] = poolTokenStates(hidden, { dims: [2, 3, 2], lengths: [2, 3], pooling: "mean" });
  assert.deepEqual([...a!], [2, 3]);
  assert.deepEqual([...b!], [2, 2]);
});

Deno.test("poolTokenStates() takes the first token for cls pooling", () => {
  const [a, b] = poolTokenStates(hidden, { dims: [2, 3, 2], lengths: [2, 3], pooling: "cls" });
  assert.deepEqual([...a!], [1, 2]);
  assert.deepEqual([...b!], [1, 1]);
});

Deno.test("poolTokenStates() rejects shapes that do not match", () => {
  assert.throws(
    () => poolTokenStates(hidden, { dims: [2, 6], lengths: [2, 3], pooling: "mean" }),
    /3 dimensions/,
  );
  assert.throws(
    () => poolTokenStates(hidden, { dims: [2, 3, 2], lengths: [2], pooling: "mean" }),
    /2 rows but 1 lengths/,
  );
});

Deno.test("l2Normalize() scales to unit length and leaves zero vectors finite", () => {
  assert.deepEqual([...l2Normalize(Float32Array.of(3, 4))], [
    0.6000000238418579,
    0.800000011920929,
  ]);
  assert.deepEqual([...l2Normalize(new Float32Array(3))], [0, 0, 0]);
});
