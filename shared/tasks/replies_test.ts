import assert from "node:assert/strict";
import { createTestRedis } from "../testing/redis.ts";
import { createRedis, KeySpace } from "../redis/redis.ts";
import { QueueClient } from "../queue/queue_client.ts";
import { taskHandler } from "../queue/queue_worker.ts";
import { WorkerPool } from "../queue/_test_helpers.ts";
import { getLogger } from "../log/logger.ts";
import { AppError } from "../errors.ts";
import { generateEmbeddingsBatchTask } from "./definitions.ts";
import { ReplyClient, replying } from "./replies.ts";
import type { Redis } from "ioredis";

const log = getLogger("test");

Deno.test("request/reply returns results to many concurrent callers over one reader connection", async () => {
  const r = await createTestRedis();
  const pool = new WorkerPool(r);
  const readers: Redis[] = [];
  const client = new ReplyClient(
    new QueueClient(r.redis, { prefix: r.prefix }),
    new KeySpace(r.prefix),
    () => {
      const c = createRedis(r.target, { name: "test:replies", blocking: true });
      readers.push(c);
      return c;
    },
    log,
  );
  try {
    // A stand-in for the model: one "vector" per text, its length and its first char code.
    const handler = replying(
      taskHandler(generateEmbeddingsBatchTask, (p) => ({
        vectors: p.texts.map((t) => [t.length, t.charCodeAt(0)]),
      })),
      r.redis,
    );
    await pool.start([handler], { concurrency: 4 }, "embed");
    const texts = Array.from({ length: 200 }, (_, i) => `text number ${i}`);
    const results = await Promise.all(
      texts.map((t) =>
        client.request<typeof generateEmbeddingsBatchTask.schema, { vectors: number[][] }>(
          generateEmbeddingsBatchTask,
          { texts: [t], model: "m", mode: "query" },
        )
      ),
    );
    results.forEach((res, i) => assert.deepEqual(res.vectors, [[texts[i]!.length, 116]]));
    assert.equal(readers.length, 1, "one reader connection for every caller");
    assert.equal(client.pendingCount, 0);
  } finally {
    await client.close();
    await pool.closeAll();
    await r.cleanup();
  }
});

Deno.test("request/reply times out cleanly when no worker serves the queue", async () => {
  const r = await createTestRedis();
  const queues = new QueueClient(r.redis, { prefix: r.prefix });
  const client = new ReplyClient(
    queues,
    new KeySpace(r.prefix),
    () => createRedis(r.target, { name: "test:replies", blocking: true }),
    log,
    {
      timeoutMs: 300,
    },
  );
  try {
    const err = await client.request(generateEmbeddingsBatchTask, {
      texts: ["x"],
      model: "m",
      mode: "query",
    }).catch((e) => e);
    assert.ok(err instanceof AppError && err.code === "unavailable", String(err));
    assert.match(
      err.message,
      /No worker answered indexing.generate_embeddings_batch within 300 ms/,
    );
    assert.equal(client.pendingCount, 0);
    // The unanswered job does not linger for a worker that comes later.
    assert.deepEqual(await queues.depth().then((d) => d.embed?.waiting), 0);
  } finally {
    await client.close();
    await r.cleanup();
  }
});

Deno.test("a request whose job fails for good is rejected with the job's error", async () => {
  const r = await createTestRedis();
  const pool = new WorkerPool(r);
  const client = new ReplyClient(
    new QueueClient(r.redis, { prefix: r.prefix }),
    new KeySpace(r.prefix),
    () => createRedis(r.target, { name: "test:replies", blocking: true }),
    log,
  );
  try {
    const handler = replying(
      taskHandler(generateEmbeddingsBatchTask, () => {
        throw new Error("model exploded");
      }),
      r.redis,
    );
    await pool.start([handler], {}, "embed");
    await assert.rejects(
      client.request(generateEmbeddingsBatchTask, { texts: ["x"], model: "m", mode: "query" }),
      /model exploded/,
    );
  } finally {
    await client.close();
    await pool.closeAll();
    await r.cleanup();
  }
});
