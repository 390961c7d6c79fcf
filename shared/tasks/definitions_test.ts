import assert from "node:assert/strict";
import {
  checkContinuousSyncTask,
  cleanupOperationsTask,
  deliverWebhookTask,
  generateEmbeddingsBatchTask,
  OPERATION_TASKS,
  reconcileTask,
  sweepWebhookDeliveriesTask,
} from "./definitions.ts";

Deno.test("embedding batches run on the `embed` queue, every other task on `default`", () => {
  assert.equal(generateEmbeddingsBatchTask.queue, "embed");
  for (
    const task of [
      ...OPERATION_TASKS,
      checkContinuousSyncTask,
      cleanupOperationsTask,
      reconcileTask,
      deliverWebhookTask,
      sweepWebhookDeliveriesTask,
    ]
  ) {
    assert.equal(task.queue, "default", task.name);
  }
});

Deno.test("an embedding batch is retried once, 100 ms later: its caller waits", () => {
  assert.equal(generateEmbeddingsBatchTask.maxAttempts, 2);
  assert.deepEqual(generateEmbeddingsBatchTask.backoff, { type: "fixed", delayMs: 100 });
});
