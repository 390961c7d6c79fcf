/**
 * The identities of what indexing writes: document ids and chunk (= point) ids (the names of the
 * vector collections are `shared/collections/collection_names.ts`). All are derived from stable
 * inputs, so a job that runs again after a crash writes the same rows and points instead of new
 * ones.
 */
import { assertGeneration, POINT_ID_NAMESPACE, pointId, uuidV5 } from "@semantik/shared";

/**
 * The id of a new document row: UUIDv5 of (collection, uri). A document first seen by an attempt
 * that died before recording it gets the same id the next time, so its stray points (payload
 * `document_id`) are found and deleted.
 */
export function documentIdFor(collectionId: string, uri: string): string {
  if (collectionId === "" || uri === "") {
    throw new TypeError(
      `Cannot compute a document id: collection id and uri must not be empty, got ${
        JSON.stringify([collectionId, uri])
      }`,
    );
  }
  return uuidV5(JSON.stringify(["document", collectionId, uri]), POINT_ID_NAMESPACE);
}

/**
 * The id of chunk `ordinal` of the document at `uri` in generation `generation` of a collection:
 * `pointId(collection, { uri, ordinal })` for generation 1 (docs/ARCHITECTURE.md's deterministic
 * ids), and the same over `<collection>/g<N>` for later ones, so the chunk rows of the old and the
 * new generation can coexist (chunks are keyed by collection and id) while a reindex switches.
 */
export function chunkPointId(
  collectionId: string,
  { generation, uri, ordinal }: { generation: number; uri: string; ordinal: number },
): string {
  assertGeneration(generation, "compute a chunk id");
  const key = generation === 1 ? collectionId : `${collectionId}/g${generation}`;
  return pointId(key, { uri, ordinal });
}
