import assert from "node:assert/strict";
import { AdaptiveBudget } from "./adaptive_budget.ts";

Deno.test("AdaptiveBudget halves on out-of-memory down to its minimum", () => {
  const budget = new AdaptiveBudget({ max: 1000, min: 100 });
  assert.equal(budget.current, 1000);
  assert.equal(budget.recordOutOfMemory(), true);
  assert.equal(budget.current, 500);
  assert.equal(budget.recordOutOfMemory(), true);
  assert.equal(budget.recordOutOfMemory(), true);
  assert.equal(budget.current, 125);
  assert.equal(budget.recordOutOfMemory(), true);
  assert.equal(budget.current, 100);
  assert.equal(budget.recordOutOfMemory(), false);
  assert.equal(budget.current, 100);
});

Deno.test("AdaptiveBudget halves the failed batch's cost when it was under the budget", () => {
  const budget = new AdaptiveBudget({ max: 8192 });
  budget.recordOutOfMemory(600);
  assert.equal(budget.current, 300);
});

Deno.test("AdaptiveBudget doubles back after a run of successes, never past max", () => {
  const budget = new AdaptiveBudget({ max: 1000, regrowAfter: 3 });
  budget.recordOutOfMemory();
  budget.recordOutOfMemory();
  assert.equal(budget.current, 250);
  budget.recordSuccess();
  budget.recordSuccess();
  assert.equal(budget.current, 250);
  budget.recordSuccess();
  assert.equal(budget.current, 500);
  // An out-of-memory error in the middle of a run starts the count again.
  budget.recordSuccess();
  budget.recordSuccess();
  budget.recordOutOfMemory();
  assert.equal(budget.current, 250);
  for (let i = 0; i < 6; i++) budget.recordSuccess();
  assert.equal(budget.current, 1000);
  for (let i = 0; i < 6; i++) budget.recordSuccess();
  assert.equal(budget.current, 1000);
});

Deno.test("AdaptiveBudget rejects bad options", () => {
  assert.throws(() => new AdaptiveBudget({ max: 0 }), /max must be a positive integer, got 0/);
  assert.throws(() => new AdaptiveBudget({ max: 10, min: 20 }), /min must be an integer/);
  assert.throws(() => new AdaptiveBudget({ max: 10, regrowAfter: 0 }), /regrowAfter/);
});
