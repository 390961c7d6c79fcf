/**
 * `rerank: true` with a cross-encoder (the tiny one, whose logit counts the words a passage
 * shares with the query): the best results are scored and reordered by it, `scores.rerank` and
 * `score` carry its logit; without a reranker the request is 422. The worker serves the same
 * scores through request/reply (`indexing.rerank_batch`, used when `EMBED_QUERIES=worker`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AppError, CrossEncoder, ReplyClient, rerankBatchTask } from "@semantik/shared";
import { TINY_MODEL_NAME, writeTinyCrossEncoder } from "@semantik/shared/testing";
import { createCollection } from "../api/collections/collections.ts";
import { search, type SearchDeps } from "../api/search/search.ts";
import { withIndexingEnv, writeFiles } from "./indexing_env.ts";

const WORDS = ["bees", "honey", "hive", "nectar", "make", "cats", "purr", "stock", "market"];
const FILES: Record<string, string> = {
  "a.md": "Bees make honey in the hive from nectar.",
  "b.md": "Honey is sweet, and cats purr.",
  "c.md": "The stock market fell; honey prices did not.",
  "d.md": "Cats purr; bees make a hive.",
  "e.md": "Nothing here but sand.",
};
const QUERY = "Where do bees make honey from nectar?";

/** Words of the test's list that a text shares with the query. */
function shared(text: string): number {
  const words = (s: string) => new Set(s.toLowerCase().match(/[a-z]+/g));
  const q = words(QUERY);
  return [...words(text)].filter((w) => WORDS.includes(w) && q.has(w)).length;
}

Deno.test("rerank: true orders the best results by the cross-encoder's logit", () =>
  withIndexingEnv({ worker: true }, async (env) => {
    const modelDir = join(env.dir, "reranker");
    await writeTinyCrossEncoder(modelDir, WORDS);
    const src = await writeFiles(join(env.root, "src"), FILES);
    const { operation } = await createCollection(env.deps, {
      userId: env.userId,
      input: {
        name: "rerank",
        source: { type: "directory", path: src },
      },
    });
    assert.equal((await env.waitForOperation(operation!.id)).status, "completed");
    const ce = await CrossEncoder.load(modelDir);
    try {
      const base: SearchDeps = {
        db: env.db.db,
        vectors: env.vectors,
        defaultEmbeddingModel: TINY_MODEL_NAME,
        embedQuery: async (model, text) =>
          (await (await env.models.get(model)).embedTexts([text], "query"))[0]!,
      };
      const deps: SearchDeps = { ...base, rerank: (q, passages) => ce.score(q, passages) };
      const byFile = (uri: string) => uri.slice(uri.lastIndexOf("/") + 1);
      // The order the test expects: most shared words first (a tie: the shorter passage).
      const expected = Object.keys(FILES).sort((a, b) =>
        shared(FILES[b]!) - shared(FILES[a]!) || FILES[a]!.length - FILES[b]!.length
      );
      assert.deepEqual(expected.slice(0, 3), ["a.md", "d.md", "b.md"]);

      for (const mode of ["dense", "hybrid"] as const) {
        const plain = await search(deps, {
          userId: env.userId,
          request: { query: QUERY, mode, k: 5 },
        });
        assert.ok(plain.results.every((r) => r.scores.rerank === null));
        const reranked = await search(deps, {
          userId: env.userId,
          request: { query: QUERY, mode, k: 5, rerank: true },
        });
        assert.deepEqual(reranked.results.map((r) => byFile(r.uri)), expected, mode);
        for (const r of reranked.results) {
          assert.equal(r.score, r.scores.rerank);
          // The logit counts the shared words, less a little per passage token.
          assert.ok(Math.abs(r.scores.rerank! - shared(r.text)) < 0.1, r.text);
          // The retrievers' scores stay as they were.
          const before = plain.results.find((p) => p.uri === r.uri)!;
          assert.deepEqual({ ...r.scores, rerank: null }, before.scores);
        }
        // k cuts after reranking: the best by the reranker, wherever the retrievers put it.
        const top1 = await search(deps, {
          userId: env.userId,
          request: { query: QUERY, mode, k: 1, rerank: true },
        });
        assert.deepEqual(top1.results.map((r) => byFile(r.uri)), ["a.md"]);
      }
      // The dense order with the tiny embedding model is not the reranked one: reranking moved
      // results.
      const dense = await search(deps, {
        userId: env.userId,
        request: { query: QUERY, mode: "dense", k: 5 },
      });
      assert.notDeepEqual(dense.results.map((r) => byFile(r.uri)), expected);

      await assert.rejects(
        () => search(base, { userId: env.userId, request: { query: QUERY, rerank: true } }),
        (err) => err instanceof AppError && err.code === "reranker_unavailable",
      );
    } finally {
      await ce.close();
    }
  }));

Deno.test("a worker scores rerank batches through request/reply with RERANK_MODEL", async () => {
  const modelDir = await Deno.makeTempDir();
  try {
    await writeTinyCrossEncoder(modelDir, WORDS);
    await withIndexingEnv({ env: { RERANK_MODEL: modelDir } }, async (env) => {
      const replies = new ReplyClient(
        env.rt.queues,
        env.rt.keys,
        () => env.rt.redisFactory("replies", true),
        env.rt.log,
        { timeoutMs: 60_000 },
      );
      try {
        const passages = Object.values(FILES);
        const res = await replies.request<typeof rerankBatchTask.schema, { scores: number[] }>(
          rerankBatchTask,
          { query: QUERY, passages },
        );
        assert.equal(res.scores.length, passages.length);
        res.scores.forEach((s, i) => assert.ok(Math.abs(s - shared(passages[i]!)) < 0.1));
      } finally {
        await replies.close();
      }
    });
  } finally {
    await Deno.remove(modelDir, { recursive: true });
  }
});
