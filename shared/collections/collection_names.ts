/**
 * The names of a collection's vector store: the alias searches go through and the physical
 * collection of each generation behind it. The API creates the alias name; the worker builds,
 * switches and drops the generations.
 */

/** The alias through which searches reach a collection's current vectors. */
export function vectorStoreNameFor(collectionId: string): string {
  return `col_${collectionId.replaceAll("-", "")}`;
}

/** The physical vector collection of a generation: `col_<hex>_g<N>`, behind the alias `col_<hex>`. */
export function generationCollectionName(collectionId: string, generation: number): string {
  assertGeneration(generation, "name a vector collection");
  return `${vectorStoreNameFor(collectionId)}_g${generation}`;
}

export function assertGeneration(generation: number, what: string): void {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new RangeError(
      `Cannot ${what}: generation must be a positive integer, got ${generation}`,
    );
  }
}
