/**
 * Collection and alias names. The pgvector store derives table and index names from them and
 * Qdrant puts them in URL paths, so only a strict pattern passes: no quoting, no escaping, and
 * `vec_<name>_embedding` still fits Postgres' 63-byte identifiers.
 */

/** Lower-case letter first, then lower-case letters, digits and `_`; 51 characters at most. */
export const COLLECTION_NAME_PATTERN = /^[a-z][a-z0-9_]{0,50}$/;

/** Throws a `TypeError` naming `what` when `name` does not match {@link COLLECTION_NAME_PATTERN}. */
export function assertCollectionName(name: unknown, what = "collection name"): string {
  if (typeof name !== "string" || !COLLECTION_NAME_PATTERN.test(name)) {
    throw new TypeError(
      `Invalid vector ${what}: expected ${COLLECTION_NAME_PATTERN.source}, got ${
        JSON.stringify(name)
      }`,
    );
  }
  return name;
}
