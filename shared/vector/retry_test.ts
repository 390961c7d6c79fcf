import assert from "node:assert/strict";
import { retry } from "./retry.ts";

function flaky(failures: number, error: unknown = new Error("transient")) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    fn: () => {
      calls++;
      return calls <= failures ? Promise.reject(error) : Promise.resolve(calls);
    },
  };
}

Deno.test("retry() retries transient errors until success", async () => {
  const f = flaky(3);
  const delays: number[] = [];
  const result = await retry(f.fn, {
    retryable: () => true,
    baseDelayMs: 8,
    random: () => 0.5,
    onRetry: (_e, _a, d) => delays.push(d),
  });
  assert.equal(result, 4);
  assert.equal(f.calls, 4);
  assert.deepEqual(delays, [4, 8, 16]);
});

Deno.test("retry() gives up after maxAttempts and rethrows the last error", async () => {
  const f = flaky(10);
  await assert.rejects(
    retry(f.fn, { retryable: () => true, maxAttempts: 3, baseDelayMs: 0 }),
    /transient/,
  );
  assert.equal(f.calls, 3);
});

Deno.test("retry() does not retry errors the classifier rejects", async () => {
  const f = flaky(1, new TypeError("bad input"));
  await assert.rejects(
    retry(f.fn, { retryable: (e) => !(e instanceof TypeError), baseDelayMs: 0 }),
    TypeError,
  );
  assert.equal(f.calls, 1);
});

Deno.test("retry() honours a server's retry-after, capped by maxDelayMs", async () => {
  const delays: number[] = [];
  const f = flaky(2);
  await retry(f.fn, {
    retryable: () => 60_000,
    maxDelayMs: 3,
    onRetry: (_e, _a, d) => delays.push(d),
  });
  assert.deepEqual(delays, [3, 3]);
});

Deno.test("retry() stops waiting when its signal aborts", async () => {
  const controller = new AbortController();
  const f = flaky(10);
  const p = retry(f.fn, {
    retryable: () => true,
    baseDelayMs: 3_600_000,
    random: () => 0.99,
    signal: controller.signal,
    onRetry: () => queueMicrotask(() => controller.abort()),
  });
  await assert.rejects(p, /transient/);
  assert.equal(f.calls, 1);
});

Deno.test("retry() validates its options", async () => {
  await assert.rejects(retry(() => Promise.resolve(1), { maxAttempts: 0 }), RangeError);
  await assert.rejects(retry(() => Promise.resolve(1), { baseDelayMs: -1 }), RangeError);
});
