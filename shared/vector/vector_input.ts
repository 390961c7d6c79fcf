/**
 * Validation at the vector stores' edge, shared by both so they accept and reject the same
 * inputs. Structure is checked with zod; vector components with a plain loop, since a batch
 * holds hundreds of thousands of numbers.
 */
import { z } from "zod";
import { isUuid } from "../db/uuid.ts";
import { fusionDepth } from "./fusion.ts";
import { normalizeUriPrefix } from "./uri_prefix.ts";
import type { VectorPayload, VectorSearchOptions } from "./vector_store.ts";

/** Payload keys the stores keep for themselves. */
export const RESERVED_PAYLOAD_KEYS: readonly string[] = ["_uri_prefixes"];

/** Largest `k` a search accepts (pgvector's `hnsw.ef_search` stops at 1000). */
export const MAX_SEARCH_K = 1000;

const payloadSchema = z.looseObject({
  collection_id: z.string().min(1),
  document_id: z.string().min(1),
  uri: z.string().min(1),
  chunk_index: z.number().int().min(0),
});

const pointSchema = z.object({
  id: z.string().refine(isUuid, "must be a UUID"),
  vector: z.union([z.instanceof(Float32Array), z.array(z.unknown())]),
  payload: payloadSchema,
  text: z.string().optional(),
});

const searchSchema = z.object({
  k: z.number().int().min(1).max(MAX_SEARCH_K),
  scoreThreshold: z.number().finite().optional(),
  documentIds: z.array(z.string().min(1)).optional(),
  uriPrefix: z.string().min(1).optional(),
});

/** A point after validation: lower-case id, a Float32Array vector, its payload, its text. */
export interface CheckedPoint {
  id: string;
  vector: Float32Array;
  payload: VectorPayload;
  /** The chunk text for lexical retrieval ("" when the caller gave none). */
  text: string;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "value"} ${i.message}`).join("; ");
}

/**
 * Checks a vector: finite numbers, not all zero (cosine is undefined for the zero vector).
 * Returns it as a Float32Array, the precision both stores keep.
 */
export function checkVector(action: string, vector: unknown): Float32Array {
  if (!(vector instanceof Float32Array) && !Array.isArray(vector)) {
    throw new TypeError(`Cannot ${action}: the vector must be a Float32Array or a number[]`);
  }
  if (vector.length === 0) throw new RangeError(`Cannot ${action}: the vector is empty`);
  let zero = true;
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i];
    if (typeof x !== "number" || !Number.isFinite(x)) {
      throw new RangeError(
        `Cannot ${action}: vector component ${i} must be a finite number, got ${String(x)}`,
      );
    }
    if (x !== 0) zero = false;
  }
  const out = vector instanceof Float32Array ? vector : Float32Array.from(vector as number[]);
  // A tiny number[] component may round to 0 in float32, so check the stored form too.
  if (zero || out.every((x) => x === 0)) {
    throw new RangeError(`Cannot ${action}: the zero vector has no cosine similarity`);
  }
  return out;
}

/**
 * Validates points for an upsert into `collection`: UUID ids, well-formed payloads without
 * reserved keys, vectors of one dimension. Repeated ids keep the last occurrence, in the position
 * of the first, so a multi-row upsert never touches a row twice.
 */
export function checkPoints(collection: string, points: unknown): CheckedPoint[] {
  const action = `upsert into ${collection}`;
  if (!Array.isArray(points)) throw new TypeError(`Cannot ${action}: points must be an array`);
  const byId = new Map<string, CheckedPoint>();
  let dimension: number | undefined;
  for (let i = 0; i < points.length; i++) {
    const parsed = pointSchema.safeParse(points[i]);
    if (!parsed.success) {
      throw new TypeError(
        `Cannot ${action}: point ${i} is invalid: ${describeIssues(parsed.error)}`,
      );
    }
    const { id, payload } = parsed.data;
    for (const key of RESERVED_PAYLOAD_KEYS) {
      if (key in payload) {
        throw new TypeError(`Cannot ${action}: point ${i} uses the reserved payload key ${key}`);
      }
    }
    const vector = checkVector(`${action} (point ${i})`, parsed.data.vector);
    if (dimension === undefined) dimension = vector.length;
    else if (vector.length !== dimension) {
      throw new RangeError(
        `Cannot ${action}: point ${i} has ${vector.length} dimensions, point 0 has ${dimension}`,
      );
    }
    byId.set(id.toLowerCase(), {
      id: id.toLowerCase(),
      vector,
      payload: payload as VectorPayload,
      text: parsed.data.text ?? "",
    });
  }
  return [...byId.values()];
}

/** Validates point ids for a delete; returns them lower-cased and without repeats. */
export function checkIds(action: string, ids: unknown): string[] {
  if (!Array.isArray(ids)) throw new TypeError(`Cannot ${action}: ids must be an array`);
  const out = new Set<string>();
  for (const id of ids) {
    if (typeof id !== "string" || !isUuid(id)) {
      throw new TypeError(`Cannot ${action}: point ids must be UUIDs, got ${JSON.stringify(id)}`);
    }
    out.add(id.toLowerCase());
  }
  return [...out];
}

/** Validates document ids for a delete or a filter; returns them without repeats. */
export function checkDocumentIds(action: string, ids: unknown): string[] {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string" && id !== "")) {
    throw new TypeError(`Cannot ${action}: document ids must be non-empty strings`);
  }
  return [...new Set(ids as string[])];
}

/** Search options after validation; `uriPrefix` is in canonical form. */
export type CheckedSearchOptions = VectorSearchOptions;

/** Validates a lexical query: a non-empty string of at most 4096 characters. */
export function checkQueryText(action: string, text: unknown): string {
  if (typeof text !== "string" || text.trim() === "" || text.length > 4096) {
    throw new TypeError(
      `Cannot ${action}: the query text must be a non-blank string of at most 4096 characters`,
    );
  }
  return text;
}

/**
 * A lexical search's query text and options, checked as both stores check them (no
 * `scoreThreshold`: it is for vectors only).
 */
export function checkLexicalOptions(
  collection: string,
  query: unknown,
  options: unknown,
): CheckedSearchOptions {
  checkQueryText(`search ${collection}`, query);
  const o = checkSearchOptions(collection, options);
  if (o.scoreThreshold !== undefined) {
    throw new TypeError(
      `Cannot search ${collection} lexically: scoreThreshold is for vectors only`,
    );
  }
  return o;
}

/** Hybrid options after validation. */
export interface CheckedHybridOptions extends CheckedSearchOptions {
  depth: number;
  rrfK: number;
}

export function checkHybridOptions(collection: string, options: unknown): CheckedHybridOptions {
  const base = checkSearchOptions(collection, options);
  const o = options as { depth?: unknown; rrfK?: unknown };
  const depth = o.depth ?? fusionDepth(base.k);
  const rrfK = o.rrfK ?? 60;
  if (!Number.isInteger(depth) || (depth as number) < base.k || (depth as number) > MAX_SEARCH_K) {
    throw new TypeError(
      `Cannot search ${collection}: depth must be an integer from k to ${MAX_SEARCH_K}, got ${
        String(depth)
      }`,
    );
  }
  if (!Number.isInteger(rrfK) || (rrfK as number) < 1 || (rrfK as number) > 1000) {
    throw new TypeError(
      `Cannot search ${collection}: rrfK must be an integer from 1 to 1000, got ${String(rrfK)}`,
    );
  }
  return { ...base, depth: depth as number, rrfK: rrfK as number };
}

export function checkSearchOptions(collection: string, options: unknown): CheckedSearchOptions {
  const parsed = searchSchema.safeParse(options);
  if (!parsed.success) {
    throw new TypeError(
      `Cannot search ${collection}: invalid options: ${describeIssues(parsed.error)}`,
    );
  }
  const o = parsed.data;
  return {
    k: o.k,
    scoreThreshold: o.scoreThreshold,
    documentIds: o.documentIds === undefined ? undefined : [...new Set(o.documentIds)],
    uriPrefix: o.uriPrefix === undefined ? undefined : normalizeUriPrefix(o.uriPrefix),
  };
}

/** Validates {@link VectorStore.setLexical}'s points; a repeated id: the last wins. */
export function checkLexicalTexts(action: string, points: unknown): { id: string; text: string }[] {
  if (!Array.isArray(points)) throw new TypeError(`Cannot ${action}: points must be an array`);
  const out = new Map<string, string>();
  for (const p of points) {
    const { id, text } = (p ?? {}) as { id?: unknown; text?: unknown };
    if (typeof id !== "string" || !isUuid(id)) {
      throw new TypeError(`Cannot ${action}: point ids must be UUIDs, got ${JSON.stringify(id)}`);
    }
    if (typeof text !== "string") {
      throw new TypeError(`Cannot ${action}: the text of point ${id} must be a string`);
    }
    out.set(id.toLowerCase(), text);
  }
  return [...out].map(([id, text]) => ({ id, text }));
}
