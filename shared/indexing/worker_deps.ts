/**
 * Glue between a worker's resources and the indexing functions, so each task handler stays a few
 * lines: the dependencies from a process runtime, and the rule that a failure no attempt can fix
 * ends the operation at once instead of being retried.
 */
import type { Runtime } from "../runtime/runtime.ts";
import { type IndexingDeps, isPermanentFailure } from "./indexed_collection.ts";
import type { EmbeddingGate } from "./indexing_pipeline.ts";

/** Indexing dependencies from a process runtime and the worker's embedding semaphore. */
export function indexingDepsFor(
  rt: Pick<Runtime, "db" | "vectors" | "models" | "config" | "log">,
  gate?: EmbeddingGate,
): IndexingDeps {
  return {
    db: rt.db,
    vectors: rt.vectors,
    models: rt.models,
    documentRoots: rt.config.documentRoots,
    maxFileSizeBytes: rt.config.maxFileSizeBytes,
    gate,
    log: rt.log,
  };
}

/** docs/API.md's counts that every operation's completion metadata carries. */
export const BASE_COUNTS = {
  documents_total: 0,
  documents_processed: 0,
  documents_failed: 0,
  documents_skipped: 0,
  chunks_created: 0,
} as const;

/**
 * Runs `work`; a permanent failure (see {@link isPermanentFailure}) fails the operation through
 * `ctx` and resolves undefined, anything else is thrown for the queue to retry.
 */
export async function failingPermanently<T>(
  ctx: { fail(error: unknown): Promise<boolean> },
  work: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (!isPermanentFailure(err)) throw err;
    await ctx.fail(err);
    return undefined;
  }
}
