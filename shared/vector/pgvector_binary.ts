/**
 * Vectors in Postgres's binary format, so that they reach the server as the float32 bits they
 * are: an upsert's as pgvector's `vector[]`, a search's as a `float4[]` cast to `vector` (fixed
 * oids, where `vector`'s are the database's own). That is: no text to write (a 384-dimension vector is 5.2 kB as text, written
 * float by float with `toPrecision`) and none for the server to parse (`strtof` per float).
 *
 * The layout is what the server's receive functions read, all integers big-endian:
 * `array_recv`: int32 dimensions of the array (1; 0 for an empty one), int32 flags (0: no nulls),
 * uint32 element type oid, then per array dimension int32 length and int32 lower bound (1), then
 * each element as int32 byte length and its bytes; pgvector's `vector_recv`: int16 dimensions,
 * int16 unused (0), then each float32; `float4recv`: the float32.
 */

/** Most dimensions a binary vector can state (its count is an int16); pgvector allows 16,000. */
export const MAX_BINARY_DIMENSION = 0x7fff;

/**
 * A one-dimensional array of `count` elements of type `elementOid` in `array_recv`'s layout, with
 * `bodyBytes` after its header for the elements (each its int32 length and bytes); an empty one
 * has no dimensions. Returns the bytes, a view on them and where the elements start.
 */
function binaryArray(
  count: number,
  elementOid: number,
  bodyBytes: number,
): { out: Uint8Array; view: DataView; at: number } {
  const at = count === 0 ? 12 : 20;
  const out = new Uint8Array(at + bodyBytes);
  const view = new DataView(out.buffer);
  view.setInt32(0, count === 0 ? 0 : 1);
  view.setInt32(4, 0);
  view.setUint32(8, elementOid);
  if (count > 0) {
    view.setInt32(12, count);
    view.setInt32(16, 1);
  }
  return { out, view, at };
}

/**
 * `vectors` as one binary `vector[]` whose elements have the type `vectorOid` (the database's
 * oid of pgvector's `vector`, which `array_recv` checks).
 */
export function encodeVectorArray(vectors: readonly Float32Array[], vectorOid: number): Uint8Array {
  let body = 0;
  for (const v of vectors) {
    if (v.length > MAX_BINARY_DIMENSION) {
      throw new RangeError(
        `Cannot encode a vector of ${v.length} dimensions: at most ${MAX_BINARY_DIMENSION}`,
      );
    }
    body += 8 + 4 * v.length;
  }
  const { out, view, at: first } = binaryArray(vectors.length, vectorOid, body);
  let at = first;
  for (const v of vectors) {
    view.setInt32(at, 4 + 4 * v.length);
    view.setInt16(at + 4, v.length);
    view.setInt16(at + 6, 0);
    at += 8;
    for (let i = 0; i < v.length; i++, at += 4) view.setFloat32(at, v[i]!);
  }
  return out;
}

/** Postgres's oid of `float4[]` (`_float4`), and of `float4`, fixed in every database. */
export const FLOAT4_ARRAY_OID = 1021;
const FLOAT4_OID = 700;

/** `vector` as one binary `float4[]` (oid {@link FLOAT4_ARRAY_OID}). */
export function encodeFloat4Array(vector: Float32Array): Uint8Array {
  const { out, view, at: first } = binaryArray(vector.length, FLOAT4_OID, 8 * vector.length);
  for (let i = 0, at = first; i < vector.length; i++, at += 8) {
    view.setInt32(at, 4);
    view.setFloat32(at + 4, vector[i]!);
  }
  return out;
}
