import assert from "node:assert/strict";
import { planFixedBatches, planTokenBatches } from "./batch_planner.ts";

Deno.test("planTokenBatches() covers every text once and keeps each batch under the budget", () => {
  const lengths = Array.from({ length: 500 }, (_, i) => 3 + ((i * 7919) % 254));
  const batches = planTokenBatches(lengths, { maxBatchTokens: 2048, maxBatchSize: 64 });
  const seen = batches.flat().sort((a, b) => a - b);
  assert.deepEqual(seen, lengths.map((_, i) => i));
  for (const batch of batches) {
    const longest = Math.max(...batch.map((i) => lengths[i]!));
    assert.ok(batch.length <= 64);
    assert.ok(batch.length * longest <= 2048, `batch of ${batch.length} × ${longest}`);
  }
});

Deno.test("planTokenBatches() sorts by length, longest first, so padding stays small", () => {
  const lengths = [5, 100, 6, 99, 7, 98];
  const batches = planTokenBatches(lengths, { maxBatchTokens: 300 });
  assert.deepEqual(batches, [[1, 3, 5], [4, 2, 0]]);
});

Deno.test("planTokenBatches() gives a text longer than the budget a batch of its own", () => {
  assert.deepEqual(planTokenBatches([10, 500, 10], { maxBatchTokens: 100 }), [[1], [0, 2]]);
});

Deno.test("planTokenBatches() handles no texts and rejects bad budgets", () => {
  assert.deepEqual(planTokenBatches([], { maxBatchTokens: 10 }), []);
  assert.throws(() => planTokenBatches([1], { maxBatchTokens: 0 }), /maxBatchTokens/);
  assert.throws(
    () => planTokenBatches([1], { maxBatchTokens: 9, maxBatchSize: 0 }),
    /maxBatchSize/,
  );
});

Deno.test("planFixedBatches() cuts input order into equal batches", () => {
  assert.deepEqual(planFixedBatches(5, 2), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(planFixedBatches(0, 2), []);
  assert.throws(() => planFixedBatches(3, 0), /batchSize/);
});
