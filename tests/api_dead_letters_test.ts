/**
 * Dead letters through the API: a job that fails for good shows up for its operation's owner
 * (nobody else), with its error; requeue makes the operation pending again and runs the job.
 */
import assert from "node:assert/strict";
import { processSourceTask } from "@semantik/shared";
import { operationTaskHandler } from "../worker/operation_task.ts";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { createApiTestEnv } from "./helpers/api_env.ts";

Deno.test("dead letters: listed for the owner only, and requeue runs the operation again", async () => {
  const env = await createApiTestEnv();
  try {
    let healthy = false;
    await startWorker(env.rt, {
      registry: (ctx) => [
        operationTaskHandler(processSourceTask, {
          work: () => {
            if (!healthy) throw new Error("the disk is on fire");
            return Promise.resolve({ documents_total: 0 });
          },
          deps: { db: ctx.runtime.db, events: ctx.runtime.events, log: ctx.runtime.log },
        }),
      ],
    });
    const alice = await env.user();
    const bob = await env.user();
    const created = await env.call("POST", "/api/v2/collections", {
      token: alice.token,
      body: { name: "c" },
    });
    const collectionId = created.body.collection.id;
    // An operation whose job may run once only, so it goes to the dead letters at once.
    const [op] = await env.rt.db.query<{ id: string }>(
      `insert into operations (id, collection_id, owner_id, type) values ($1, $2, $3, 'index')
       returning id`,
      [crypto.randomUUID(), collectionId, alice.id],
    );
    await env.rt.queues.enqueue(processSourceTask, { operation_id: op!.id }, {
      jobId: op!.id,
      maxAttempts: 1,
    });
    await waitFor(
      "the operation to fail",
      async () =>
        (await env.call("GET", `/api/v2/operations/${op!.id}`, { token: alice.token })).body
          .status === "failed",
      { timeoutMs: OPERATION_MS },
    );

    const mine = await env.call("GET", "/api/v2/dead-letters", { token: alice.token });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.jobs.length, 1);
    const job = mine.body.jobs[0];
    assert.equal(job.id, op!.id);
    assert.equal(job.operation_id, op!.id);
    assert.equal(job.task, "indexing.process_source");
    assert.equal(job.queue, "default");
    assert.equal(job.attempts, 1);
    assert.equal(job.error, "the disk is on fire");
    assert.ok(!Number.isNaN(Date.parse(job.failed_at)));
    assert.deepEqual(
      (await env.call("GET", "/api/v2/dead-letters", { token: bob.token })).body.jobs,
      [],
    );
    const theirs = await env.call("POST", `/api/v2/dead-letters/${op!.id}/requeue`, {
      token: bob.token,
    });
    assert.equal(theirs.status, 403);

    healthy = true;
    const requeued = await env.call("POST", `/api/v2/dead-letters/${op!.id}/requeue`, {
      token: alice.token,
    });
    assert.equal(requeued.status, 202, JSON.stringify(requeued.body));
    await waitFor(
      "the requeued operation to complete",
      async () =>
        (await env.call("GET", `/api/v2/operations/${op!.id}`, { token: alice.token })).body
          .status === "completed",
      { timeoutMs: OPERATION_MS },
    );
    assert.deepEqual(
      (await env.call("GET", "/api/v2/dead-letters", { token: alice.token })).body.jobs,
      [],
    );
    const again = await env.call("POST", `/api/v2/dead-letters/${op!.id}/requeue`, {
      token: alice.token,
    });
    assert.equal(again.status, 404);
  } finally {
    await env.cleanup();
  }
});
