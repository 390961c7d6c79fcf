import assert from "node:assert/strict";
import { backoffDelay, resolveBackoff } from "./backoff.ts";

Deno.test("backoffDelay() doubles from delayMs, is capped, and never shrinks from one attempt to the next", async (t) => {
  const b = resolveBackoff({ delayMs: 100, maxDelayMs: 1000 });
  await t.step("without jitter", () => {
    const none = { random: () => 0 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, b, none)), [
      100,
      200,
      400,
      800,
      1000,
      1000,
    ]);
  });
  await t.step("with the most jitter", () => {
    const most = { random: () => 0.999999 };
    assert.deepEqual([1, 2, 3].map((a) => backoffDelay(a, b, most)), [50, 100, 200]);
  });
  await t.step("random jitter stays in [d/2, d] and keeps the order", () => {
    for (let i = 0; i < 200; i++) {
      const delays = [1, 2, 3, 4].map((a) => backoffDelay(a, b));
      delays.forEach((d, k) => assert.ok(d >= (100 * 2 ** k) / 2 && d <= 100 * 2 ** k, String(d)));
      for (let k = 1; k < delays.length; k++) assert.ok(delays[k]! >= delays[k - 1]!);
    }
  });
});

Deno.test("fixed backoff waits the same each time; bad options are refused", () => {
  const b = resolveBackoff({ type: "fixed", delayMs: 250, jitter: 0 });
  assert.deepEqual([1, 2, 7].map((a) => backoffDelay(a, b)), [250, 250, 250]);
  assert.throws(() => resolveBackoff({ jitter: 0.9 }), /Cannot use backoff: jitter/);
  assert.throws(() => resolveBackoff({ delayMs: -1 }), RangeError);
});

Deno.test("full jitter takes anywhere in [0, d) of the same capped exponential delay", () => {
  const b = resolveBackoff({ delayMs: 8, maxDelayMs: 20 });
  const half = { random: () => 0.5, full: true };
  assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, b, half)), [4, 8, 10, 10]);
  assert.deepEqual([1, 3].map((a) => backoffDelay(a, b, { random: () => 0, full: true })), [0, 0]);
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, b, { full: true });
    assert.ok(d >= 0 && d < 20, String(d));
  }
});
