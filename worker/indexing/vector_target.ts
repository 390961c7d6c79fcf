/**
 * The vector collection an operation writes to: `col_<hex>_g<N>` for the collection's current
 * generation N, created on first use with the alias `col_<hex>` (what searches use) pointing at
 * it. Also finishes a generation switch that a reindex committed in Postgres but did not get to
 * complete in the vector store.
 */
import {
  type Db,
  type EnsureCollectionOptions,
  generationCollectionName,
  type Logger,
  type VectorStore,
  vectorStoreNameFor,
} from "@semantik/shared";
import type { IndexedCollection } from "./indexed_collection.ts";

export interface VectorTargetDeps {
  db: Db;
  vectors: VectorStore;
  log?: Logger;
}

/**
 * Creates the current generation's collection and alias where missing; returns its name.
 * `bulkLoad`: see `EnsureCollectionOptions` (the caller then calls `finishBulkLoad`).
 */
export async function ensureVectorTarget(
  deps: VectorTargetDeps,
  c: Pick<IndexedCollection, "id" | "vector_dim" | "vector_generation">,
  options: EnsureCollectionOptions = {},
): Promise<string> {
  const alias = vectorStoreNameFor(c.id);
  const physical = generationCollectionName(c.id, c.vector_generation);
  await deps.vectors.ensureCollection(physical, c.vector_dim, options);
  const current = await deps.vectors.resolveAlias(alias);
  if (current !== physical) {
    await deps.vectors.setAlias(alias, physical);
    if (current !== undefined) {
      // Postgres says generation N serves, the alias still named another: a reindex died between
      // its commit and its alias switch. Finish its work.
      deps.log?.warn("finishing an interrupted generation switch", {
        collection_id: c.id,
        generation: c.vector_generation,
        previous: current,
      });
      await retireOldGenerations(deps, {
        collectionId: c.id,
        generation: c.vector_generation,
        previous: [current],
      });
    }
  }
  return physical;
}

/**
 * Once searches use `generation`: removes the chunk rows of other generations and every staged
 * row, then drops the vector collections in `previous`. Each step is idempotent.
 */
export async function retireOldGenerations(
  deps: VectorTargetDeps,
  { collectionId, generation, previous }: {
    collectionId: string;
    generation: number;
    previous: readonly string[];
  },
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await tx.query("delete from chunks where collection_id = $1 and generation <> $2", [
      collectionId,
      generation,
    ]);
    await tx.query("delete from staged_chunks where collection_id = $1", [collectionId]);
    await tx.query("delete from staged_documents where collection_id = $1", [collectionId]);
  });
  const keep = generationCollectionName(collectionId, generation);
  for (const name of previous) {
    if (name !== keep) await deps.vectors.drop(name);
  }
}
