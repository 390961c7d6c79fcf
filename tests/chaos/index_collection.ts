/**
 * The opening most scenarios share: write a corpus, compute what indexing it must give, and ask
 * the API (as a fresh user) to create a collection over it, which starts its index operation.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ChaosSystem, ChaosUser, CollectionCounts } from "./chaos_system.ts";
import {
  type ChaosCorpus,
  type ExpectedIndex,
  expectedIndex,
  writeChaosCorpus,
} from "./chaos_corpus.ts";

export interface IndexingStarted {
  corpus: ChaosCorpus;
  expected: ExpectedIndex;
  user: ChaosUser;
  collectionId: string;
  opId: string;
  /** `performance.now()` when the operation was created. */
  opStarted: number;
}

/** Options of {@link startIndexing}. */
export interface StartIndexingOptions {
  /** Folder under the system's documents. */
  folder: string;
  /** Name of the collection. */
  name: string;
  files: number;
  /** @default {the corpus writer's default} */
  seed?: number;
}

export async function startIndexing(
  system: ChaosSystem,
  options: StartIndexingOptions,
): Promise<IndexingStarted> {
  const corpus = await writeChaosCorpus(join(system.docs, options.folder), {
    files: options.files,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  });
  const expected = await expectedIndex(corpus.dir, { modelsDir: system.modelsDir });
  const user = await system.user();
  const created = await system.call("POST", "/api/v2/collections", {
    token: user.token,
    body: { name: options.name, source: { type: "directory", path: corpus.dir } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return {
    corpus,
    expected,
    user,
    collectionId: created.body.collection.id,
    opId: created.body.operation.id,
    opStarted: performance.now(),
  };
}

/**
 * The collection holds what an undisturbed index of the corpus holds: the same documents, chunks
 * and vector points, one point per chunk row (no strays, no duplicates). Returns the counts.
 */
export async function assertIndexedAsExpected(
  system: ChaosSystem,
  options: { collectionId: string; expected: ExpectedIndex },
): Promise<CollectionCounts> {
  const { collectionId, expected } = options;
  const counts = await system.counts(collectionId);
  assert.deepEqual(counts.documents, {
    completed: expected.documents.completed,
    skipped: expected.documents.skipped,
  });
  assert.equal(counts.chunks, expected.chunks);
  assert.equal(counts.chunkCountSum, expected.chunks);
  assert.equal(counts.vectors, expected.chunks);
  const { points, chunks } = await system.pointsAndChunks(collectionId);
  assert.deepEqual(points, chunks, "one point per chunk row, no strays, no duplicates");
  return counts;
}
