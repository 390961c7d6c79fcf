/** Embedding throughput, batch sizes and out-of-memory halvings, from the embedders' reports. */
import type { Registry } from "prom-client";
import type { EmbeddingObserver } from "../embedding/embedder.ts";
import { counter, histogram } from "./metrics_registry.ts";

/** An observer (for `ModelRegistry`) that counts into `registry`. */
export function embeddingMetrics(registry: Registry): EmbeddingObserver {
  const texts = counter(registry, {
    name: "semantik_embedding_texts_total",
    help: "Texts embedded, by model (rate() gives texts per second)",
    labelNames: ["model"] as const,
  });
  const tokens = counter(registry, {
    name: "semantik_embedding_tokens_total",
    help: "Tokens embedded (without padding), by model (rate() gives tokens per second)",
    labelNames: ["model"] as const,
  });
  const batchSize = histogram(registry, {
    name: "semantik_embedding_batch_size",
    help: "Texts per inference batch, by model",
    labelNames: ["model"] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
  });
  const batchSeconds = histogram(registry, {
    name: "semantik_embedding_batch_duration_seconds",
    help: "Inference time of one batch, by model",
    labelNames: ["model"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const halvings = counter(registry, {
    name: "semantik_embedding_oom_halvings_total",
    help: "Batches that ran out of memory and had the batch budget halved, by model",
    labelNames: ["model"] as const,
  });
  return {
    batch({ model, texts: n, tokens: t, seconds }) {
      texts.inc({ model }, n);
      tokens.inc({ model }, t);
      batchSize.observe({ model }, n);
      batchSeconds.observe({ model }, seconds);
    },
    outOfMemory({ model }) {
      halvings.inc({ model });
    },
  };
}
