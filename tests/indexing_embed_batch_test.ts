/**
 * `indexing.generate_embeddings_batch` end to end: a request through the `embed` queue is
 * answered by a worker with the vectors the model makes locally, in input order, in document
 * and query mode; an unknown model is a failed request, not a hung one.
 */
import assert from "node:assert/strict";
import { generateEmbeddingsBatchTask, ReplyClient } from "@semantik/shared";
import { TINY_MODEL_NAME } from "@semantik/shared/testing";
import { withIndexingEnv } from "./indexing_env.ts";

Deno.test("generate_embeddings_batch: a worker answers with the model's vectors, in order", async () => {
  await withIndexingEnv({ worker: true }, async (env) => {
    const replies = new ReplyClient(
      env.rt.queues,
      env.rt.keys,
      () => env.rt.redisFactory("replies", true),
      env.rt.log,
      { timeoutMs: 60_000, blockMs: 200 },
    );
    try {
      const texts = ["a short one", "a somewhat longer text about embeddings", "x"];
      const local = await env.models.get(TINY_MODEL_NAME);
      for (const mode of ["document", "query"] as const) {
        const res = await replies.request<
          typeof generateEmbeddingsBatchTask.schema,
          { model: string; dimension: number; vectors: number[][] }
        >(generateEmbeddingsBatchTask, { texts, model: TINY_MODEL_NAME, mode });
        assert.equal(res.model, TINY_MODEL_NAME);
        assert.equal(res.dimension, 32);
        const expected = await local.embedTexts(texts, mode);
        assert.equal(res.vectors.length, texts.length);
        res.vectors.forEach((v, i) => {
          assert.equal(v.length, 32);
          v.forEach((x, j) =>
            assert.ok(Math.abs(x - expected[i]![j]!) < 1e-5, `${mode} ${i}:${j}`)
          );
        });
      }
      await assert.rejects(
        replies.request(generateEmbeddingsBatchTask, {
          texts: ["a"],
          model: "no/such-model",
          mode: "query",
        }),
        /Unknown embedding model|no\/such-model/,
      );
    } finally {
      await replies.close();
    }
  });
});
