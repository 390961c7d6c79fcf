import assert from "node:assert/strict";
import { latestAnswer } from "./latest_answer.js";

Deno.test("an answer that arrives after a later call's answer is not applied", () => {
  const order = latestAnswer();
  const first = order.take();
  const second = order.take();
  assert.equal(order.fresh(second), true);
  assert.equal(order.fresh(first), false, "the older answer, arriving last, is dropped");
});

Deno.test("answers in order are all applied, and an older one after a newer one is not", () => {
  const order = latestAnswer();
  const [a, b, c] = [order.take(), order.take(), order.take()];
  assert.equal(order.fresh(a), true);
  // b's answer is lost (a failed request): c still applies, and b's late answer does not.
  assert.equal(order.fresh(c), true);
  assert.equal(order.fresh(b), false);
  // A call made after everything so far applies.
  assert.equal(order.fresh(order.take()), true);
});

Deno.test("each loader keeps its own order", () => {
  const collections = latestAnswer();
  const documents = latestAnswer();
  const c1 = collections.take();
  const d1 = documents.take();
  const c2 = collections.take();
  assert.equal(collections.fresh(c2), true);
  assert.equal(documents.fresh(d1), true, "another loader's later call does not make this stale");
  assert.equal(collections.fresh(c1), false);
});

Deno.test("only the last call's answer is the latest, whichever arrives first", () => {
  const order = latestAnswer();
  const first = order.take();
  const second = order.take();
  assert.equal(order.latest(first), false, "an older search's answer, even arriving first");
  assert.equal(order.latest(second), true);
  const third = order.take();
  assert.equal(order.latest(second), false);
  assert.equal(order.latest(third), true);
});
