/**
 * Request/reply over the queue when timing goes wrong: a reply that arrives after its request
 * timed out, and a worker that dies between acking a job and sending its reply.
 */
import assert from "node:assert/strict";
import {
  AppError,
  createRedis,
  generateEmbeddingsBatchTask,
  getLogger,
  KeySpace,
  QueueClient,
  ReplyClient,
  replying,
  taskHandler,
} from "@semantik/shared";
import { createTestRedis, waitFor } from "@semantik/shared/testing";
import { WorkerPool } from "../shared/queue/_test_helpers.ts";

const log = getLogger("test");
const request = (client: ReplyClient, text: string, timeoutMs: number) =>
  client.request<typeof generateEmbeddingsBatchTask.schema, { text: string }>(
    generateEmbeddingsBatchTask,
    { texts: [text], model: "m", mode: "query" },
    { timeoutMs },
  );

Deno.test("a reply that arrives after its request timed out is dropped; the caller had its 503 and the next request gets its own reply", async () => {
  const r = await createTestRedis();
  const pool = new WorkerPool(r);
  const queues = new QueueClient(r.redis, { prefix: r.prefix });
  const client = new ReplyClient(
    queues,
    new KeySpace(r.prefix),
    () => createRedis(r.target, { name: "test:replies", blocking: true }),
    log,
  );
  try {
    const started = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const handler = replying(
      taskHandler(generateEmbeddingsBatchTask, async (p) => {
        if (p.texts[0] === "slow") {
          started.resolve();
          await release.promise;
        }
        return { text: p.texts[0] };
      }),
      r.redis,
    );
    await pool.start([handler], { concurrency: 2 }, "embed");
    // Long enough for the worker to start the job: a started job is not removed on timeout.
    const slow = request(client, "slow", 1500).catch((err) => err);
    await started.promise;
    const err = await slow;
    assert.ok(err instanceof AppError && err.code === "unavailable", String(err));
    assert.equal(client.pendingCount, 0);
    // The worker finishes after all and replies to nobody.
    release.resolve();
    await waitFor("the late reply in the reply stream", async () => {
      const entries = await r.redis.xrange(client.streamKey, "-", "+");
      return entries.some(([, f]) => f.includes(JSON.stringify({ text: "slow" })));
    }, { timeoutMs: 3000 });
    assert.deepEqual(await request(client, "fast", 5000), { text: "fast" });
    assert.equal(client.pendingCount, 0);
  } finally {
    await client.close();
    await pool.closeAll();
    await r.cleanup();
  }
});

Deno.test("a worker that dies between acking a job and sending its reply: the caller gets its timeout error and the job does not run again", async () => {
  const r = await createTestRedis();
  const pool = new WorkerPool(r);
  const queues = new QueueClient(r.redis, { prefix: r.prefix });
  const client = new ReplyClient(
    queues,
    new KeySpace(r.prefix),
    () => createRedis(r.target, { name: "test:replies", blocking: true }),
    log,
  );
  // The connection the worker replies on is gone, as when its process dies right after the ack
  // (one closed node connection, whether the tests run on one node or a cluster).
  const gone = createRedis(r.url, {
    name: "test:gone",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  gone.disconnect();
  try {
    let runs = 0;
    const hookErrors: string[] = [];
    const handler = replying(
      taskHandler(generateEmbeddingsBatchTask, (p) => {
        runs++;
        return { text: p.texts[0] };
      }),
      gone,
    );
    const w = await pool.start([handler], {}, "embed");
    w.events.on("error", (e) => hookErrors.push(e.during));
    const completed = w.events.once("completed");
    const err = await request(client, "orphan", 1500).catch((e) => e);
    const { job } = await completed;
    assert.ok(err instanceof AppError && err.code === "unavailable", String(err));
    assert.match(err.message, /No worker answered indexing\.generate_embeddings_batch/);
    assert.equal(client.pendingCount, 0);
    assert.equal(runs, 1);
    assert.equal(await queues.getJobState(job.id), null, "acked: never delivered again");
    assert.ok(hookErrors.some((d) => /onCompleted/.test(d)), hookErrors.join(", "));
  } finally {
    await client.close();
    await pool.closeAll();
    await r.cleanup();
  }
});
