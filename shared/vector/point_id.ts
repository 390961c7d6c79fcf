/**
 * Deterministic point ids: a retried or re-run batch writes the same ids, so it overwrites
 * instead of duplicating (docs/ARCHITECTURE.md, "Point ids are deterministic").
 */
import { createHash } from "node:crypto";
import { isUuid } from "../db/uuid.ts";

/** The project's UUIDv5 namespace for point ids. Changing it changes every id: never do. */
export const POINT_ID_NAMESPACE = "62b73892-680f-4350-be2a-069cfc7d0f16";

/** RFC 4122 UUID version 5 (SHA-1) of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string): string {
  if (!isUuid(namespace)) {
    throw new TypeError(`Cannot compute a UUIDv5: namespace must be a UUID, got ${namespace}`);
  }
  const ns = new Uint8Array(16);
  const hex = namespace.replaceAll("-", "");
  for (let i = 0; i < 16; i++) ns[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const digest = createHash("sha1").update(ns).update(new TextEncoder().encode(name)).digest();
  const b = new Uint8Array(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The id of chunk `ordinal` of the document at `uri` in a collection: UUIDv5 of the three in
 * {@link POINT_ID_NAMESPACE}. The parts are joined as a JSON array, so no two triples collide
 * whatever characters a uri holds.
 */
export function pointId(
  collectionId: string,
  { uri, ordinal }: { uri: string; ordinal: number },
): string {
  if (collectionId === "") throw new TypeError("Cannot compute a point id: empty collection id");
  if (uri === "") throw new TypeError("Cannot compute a point id: empty uri");
  if (!Number.isSafeInteger(ordinal) || ordinal < 0) {
    throw new RangeError(
      `Cannot compute a point id: ordinal must be a non-negative integer, got ${ordinal}`,
    );
  }
  return uuidV5(JSON.stringify([collectionId, uri, ordinal]), POINT_ID_NAMESPACE);
}
