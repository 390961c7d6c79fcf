/**
 * Errors of the vector stores that callers catch by kind. Both stores throw the same classes for
 * the same situations, whatever the backend said, so callers never parse Qdrant or Postgres text.
 */

/** A write (or an alias switch) named a collection that does not exist. */
export class CollectionNotFoundError extends Error {
  readonly collection: string;
  constructor(action: string, collection: string) {
    super(`Cannot ${action}: vector collection ${collection} does not exist`);
    this.name = "CollectionNotFoundError";
    this.collection = collection;
  }
}

/** Vectors whose length differs from the collection's dimension. */
export class DimensionMismatchError extends Error {
  readonly collection: string;
  /** The collection's dimension, when known. */
  readonly expected: number | undefined;
  readonly actual: number;
  constructor(action: string, collection: string, expected: number | undefined, actual: number) {
    super(
      `Cannot ${action} ${collection}: the vectors have ${actual} dimensions, the collection has ${
        expected ?? "another number"
      }`,
    );
    this.name = "DimensionMismatchError";
    this.collection = collection;
    this.expected = expected;
    this.actual = actual;
  }
}
