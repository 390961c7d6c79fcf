/**
 * `indexing.generate_embeddings_batch`: embeds texts with a model in document or query mode and
 * returns the vectors (to the caller waiting through request/reply). Used for query embedding
 * when `EMBED_QUERIES=worker`.
 */
import {
  generateEmbeddingsBatchTask,
  replying,
  type TaskHandler,
  taskHandler,
} from "@semantik/shared";
import type { WorkerContext } from "../registry.ts";

export function embedBatchHandler(ctx: WorkerContext): TaskHandler {
  const handler = taskHandler(generateEmbeddingsBatchTask, async (payload, job) => {
    const embedder = await ctx.runtime.models.get(payload.model);
    const vectors = await ctx.embeddingSemaphore.run(
      () => embedder.embedTexts(payload.texts, payload.mode, { signal: job.signal }),
      job.signal,
    );
    return {
      model: payload.model,
      dimension: embedder.dimension,
      vectors: vectors.map((v) => Array.from(v)),
    };
  });
  return replying(handler, ctx.runtime.redis) as TaskHandler;
}
