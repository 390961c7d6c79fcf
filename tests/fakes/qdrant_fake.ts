/**
 * A fake Qdrant: an in-memory HTTP server that follows Qdrant's REST API (the OpenAPI schema
 * bundled in `@qdrant/js-client-rest`) for every call the Qdrant store makes, so the store's own
 * code, and the client library under it, run for real in tests:
 *
 * - `GET /`, `/healthz`, `/livez`, `/readyz`
 * - `GET /collections`, `GET|PUT|DELETE /collections/{name}`, `GET /collections/{name}/exists`
 * - `PUT /collections/{name}/index` (payload indexes)
 * - `PUT /collections/{name}/vectors/{vector}` (create a named sparse vector on an existing
 *   collection), `PUT /collections/{name}/points/vectors` (update vectors: replace a point's
 *   named sparse vectors, keeping its dense vector and payload; a missing point is a 404)
 * - `PUT /collections/{name}/points` (upsert, list or batch form), `POST .../points` (retrieve),
 *   `POST .../points/delete` (ids or filter), `POST .../points/count`, `POST .../points/query`
 *   (nearest-vector queries: exact search, filters, `score_threshold`, `limit`, `offset`; sparse
 *   queries `using` a sparse vector; `prefetch` with `fusion: "rrf"` or `rrf: {k}`),
 *   `POST .../points/query/batch`
 * - sparse vectors (`sparse_vectors` at creation, `modifier: "idf"`): a point's named sparse
 *   vector `{indices, values}` (indices unique, lengths equal); a sparse query scores the dot
 *   product over shared indices, each multiplied with the modifier by Qdrant's IDF,
 *   `ln(1 + (N - n + 0.5) / (n + 0.5))` (N points with that vector, n of them holding the index),
 *   and returns only points sharing an index; RRF gives Σ 1/(k + rank), ranks from 1, k 2 unless
 *   given
 * - `POST /collections/aliases`, `GET /collections/{name}/aliases`, `GET /aliases`
 *
 * Semantics follow Qdrant's: the `{result, status, time}` envelope and `{status: {error}}` errors
 * with Qdrant's statuses and wording (404 missing collection, 400 wrong input such as a dimension
 * mismatch, 409 existing collection, 422 validation, 401 API key); collection reads and point
 * operations resolve aliases, collection deletion does not and removes the collection's aliases;
 * alias actions apply in order under one lock (`create_alias` overwrites); cosine collections
 * normalise vectors on write and score with the dot product; filters support `must`, `should`,
 * `must_not`, `min_should`, `match` (`value`, `any`, `except`, `prefix`), `range`, `is_empty`,
 * `is_null`, `values_count` and `has_id`, over dotted keys and array values. Writes without
 * `wait=true` are acknowledged first and applied later (in order), as on a real server.
 *
 * Anything else is answered with 400 and a message saying the fake does not support it, never
 * silently ignored. Test hooks: {@link QdrantFake.requests}, {@link QdrantFake.failNext},
 * {@link QdrantFake.flush}.
 */
import type { Schemas } from "@qdrant/js-client-rest";
import { z } from "zod";

/** Options of {@link startQdrantFake}. */
export interface QdrantFakeOptions {
  /** Require this key in the `api-key` header (or as a bearer token). @default {undefined} */
  apiKey?: string;
  /**
   * When writes sent without `wait=true` are applied: `"soon"` (on a timer, like a real server)
   * or `"manual"` (only on {@link QdrantFake.flush} or before a later waited write).
   * @default {"soon"}
   */
  unwaitedWrites?: "soon" | "manual";
  /** Version reported by `GET /`. @default {"1.19.0"} */
  version?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** The status answered (set once answered). */
  status?: number;
  /** The JSON body answered, undefined for a non-JSON answer. */
  response?: unknown;
}

export interface InjectedFailure {
  /** @default {503} */
  status?: number;
  /** @default {"Service unavailable (injected by the Qdrant fake)"} */
  error?: string;
  /** @default {{}} */
  headers?: Record<string, string>;
}

export interface QdrantFake {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request received, in order (failed and injected ones included). */
  readonly requests: RecordedRequest[];
  /** Answers the next `count` requests with an error instead of handling them. */
  failNext(count: number, failure?: InjectedFailure): void;
  /** Applies every acknowledged write not yet applied. */
  flush(): void;
  /** Acknowledged writes not yet applied. */
  readonly pendingWrites: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Distance = Schemas["Distance"];
type PointId = number | string;

interface Sparse {
  indices: number[];
  values: number[];
}

interface StoredPoint {
  id: PointId;
  vector: Float32Array;
  sparse: Map<string, Sparse>;
  payload: Record<string, unknown>;
  version: number;
}

interface Collection {
  name: string;
  size: number;
  distance: Distance;
  sparseConfig: Map<string, { modifier: "none" | "idf" }>;
  /** `shard_number` and `replication_factor` as created (Qdrant's defaults: 1). */
  shardNumber: number;
  replicationFactor: number;
  /** `hnsw_config.m`: 0 defers the HNSW graph (a bulk load), Qdrant's default is 16. */
  hnswM: number;
  points: Map<string, StoredPoint>;
  payloadSchema: Map<string, { data_type: Schemas["PayloadSchemaType"]; params?: unknown }>;
  version: number;
}

/** An error answered with Qdrant's error body. */
class QdrantError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const notFound = (name: string) =>
  new QdrantError(404, `Not found: Collection \`${name}\` doesn't exist!`);
const wrongInput = (msg: string) => new QdrantError(400, `Wrong input: ${msg}`);
const unsupported = (what: string) =>
  new QdrantError(400, `Wrong input: the Qdrant fake does not support ${what}`);

const UUID_HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_SIMPLE = /^[0-9a-f]{32}$/i;

/** Qdrant ids: unsigned integers or UUIDs (returned hyphenated, lower case). */
function normalizeId(raw: unknown): { key: string; id: PointId } {
  if (typeof raw === "number" && Number.isSafeInteger(raw) && raw >= 0) {
    return { key: `n:${raw}`, id: raw };
  }
  if (typeof raw === "string") {
    let s = raw.toLowerCase();
    if (UUID_SIMPLE.test(s)) {
      s = `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
    }
    if (UUID_HYPHENATED.test(s)) return { key: `u:${s}`, id: s };
  }
  throw new QdrantError(
    400,
    `Json deserialize error: data did not match any variant of untagged enum ExtendedPointId: ${
      JSON.stringify(raw)
    }`,
  );
}

// ---------------------------------------------------------------------------------------------
// Request bodies (shapes from the OpenAPI schema; filters are checked by compileFilter).

const vectorParams = z.object({
  size: z.number().int(),
  distance: z.enum(["Cosine", "Euclid", "Dot", "Manhattan"]),
}).loose();
const createCollectionBody = z.object({
  vectors: z.unknown().optional(),
  sparse_vectors: z.record(
    z.string(),
    z.object({ modifier: z.enum(["none", "idf"]).nullish(), index: z.unknown().optional() })
      .strict(),
  ).nullish(),
  shard_number: z.number().int().min(1).nullish(),
  replication_factor: z.number().int().min(1).nullish(),
  hnsw_config: z.object({ m: z.number().int().min(0).nullish() }).loose().nullish(),
}).loose();
/** `PATCH /collections/{name}` (UpdateCollection): the fake models `hnsw_config.m` only. */
const updateCollectionBody = z.object({
  hnsw_config: z.object({ m: z.number().int().min(0).nullish() }).strict().nullish(),
}).strict();
const createIndexBody = z.object({
  field_name: z.string(),
  field_schema: z.union([
    z.enum(["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"]),
    z.object({ type: z.string() }).loose(),
  ]).nullish(),
});
const pointStruct = z.object({
  id: z.unknown(),
  vector: z.unknown(),
  payload: z.record(z.string(), z.unknown()).nullish(),
});
const upsertBody = z.union([
  z.object({ points: z.array(pointStruct), shard_key: z.unknown().optional() }),
  z.object({
    batch: z.object({
      ids: z.array(z.unknown()),
      vectors: z.array(z.unknown()),
      payloads: z.array(z.record(z.string(), z.unknown()).nullable()).nullish(),
    }),
    shard_key: z.unknown().optional(),
  }),
]);
const deleteBody = z.union([
  z.object({ points: z.array(z.unknown()), shard_key: z.unknown().optional() }),
  z.object({ filter: z.unknown(), shard_key: z.unknown().optional() }),
]);
const withPayload = z.union([
  z.boolean(),
  z.array(z.string()),
  z.object({ include: z.array(z.string()) }),
  z.object({ exclude: z.array(z.string()) }),
]).nullish();
const queryBody = z.object({
  query: z.unknown().optional(),
  prefetch: z.unknown().optional(),
  using: z.string().nullish(),
  filter: z.unknown().optional(),
  params: z.unknown().optional(),
  score_threshold: z.number().nullish(),
  limit: z.number().int().nullish(),
  offset: z.number().int().nullish(),
  with_vector: z.boolean().nullish(),
  with_payload: withPayload,
  lookup_from: z.unknown().optional(),
  shard_key: z.unknown().optional(),
});
const countBody = z.object({
  filter: z.unknown().optional(),
  exact: z.boolean().optional(),
  shard_key: z.unknown().optional(),
});
const retrieveBody = z.object({
  ids: z.array(z.unknown()),
  with_payload: withPayload,
  with_vector: z.boolean().nullish(),
  shard_key: z.unknown().optional(),
});
const updateVectorsBody = z.object({
  points: z.array(z.object({ id: z.unknown(), vector: z.unknown() })),
  shard_key: z.unknown().optional(),
  update_filter: z.unknown().optional(),
});
const createVectorNameBody = z.union([
  z.object({
    sparse: z.object({ modifier: z.enum(["none", "idf"]).nullish(), datatype: z.unknown() })
      .partial().strict(),
  }).strict(),
  z.object({ dense: z.unknown() }).strict(),
]);
const aliasAction = z.union([
  z.object({ create_alias: z.object({ collection_name: z.string(), alias_name: z.string() }) }),
  z.object({ delete_alias: z.object({ alias_name: z.string() }) }),
  z.object({
    rename_alias: z.object({ old_alias_name: z.string(), new_alias_name: z.string() }),
  }),
]);
const aliasesBody = z.object({ actions: z.array(aliasAction) });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`)
      .join("; ");
    throw new QdrantError(400, `Json deserialize error: ${detail}`);
  }
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Filters.

type Predicate = (p: StoredPoint) => boolean;

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Payload values at a dotted key, arrays flattened as Qdrant does. */
function valuesAt(payload: Record<string, unknown>, key: string): unknown[] {
  let current: unknown[] = [payload];
  for (const part of key.split(".")) {
    const next: unknown[] = [];
    for (const c of current) {
      for (const item of Array.isArray(c) ? c : [c]) {
        if (item !== null && typeof item === "object" && !Array.isArray(item) && part in item) {
          next.push((item as Record<string, unknown>)[part]);
        }
      }
    }
    current = next;
  }
  return current.flatMap((v) => Array.isArray(v) ? v : [v]).filter((v) => v !== undefined);
}

function rangeTest(range: unknown): (x: number) => boolean {
  const r = z.object({
    lt: z.number().nullish(),
    gt: z.number().nullish(),
    gte: z.number().nullish(),
    lte: z.number().nullish(),
  }).safeParse(range);
  if (!r.success) throw unsupported(`this range: ${JSON.stringify(range)}`);
  const { lt, gt, gte, lte } = r.data;
  return (x) =>
    (lt == null || x < lt) && (gt == null || x > gt) && (gte == null || x >= gte) &&
    (lte == null || x <= lte);
}

function compileFieldCondition(c: Record<string, unknown>): Predicate {
  const key = c.key;
  if (typeof key !== "string") throw new QdrantError(400, "Json deserialize error: bad key");
  const tests: ((values: unknown[], raw: Record<string, unknown>) => boolean)[] = [];
  for (const [name, spec] of Object.entries(c)) {
    if (name === "key" || spec === null || spec === undefined) continue;
    if (name === "match") {
      const m = spec as Record<string, unknown>;
      if ("value" in m) tests.push((vs) => vs.some((v) => v === m.value));
      else if ("any" in m && Array.isArray(m.any)) {
        const any = m.any;
        tests.push((vs) => vs.some((v) => any.includes(v)));
      } else if ("except" in m && Array.isArray(m.except)) {
        const except = m.except;
        tests.push((vs) => vs.length === 0 || vs.some((v) => !except.includes(v)));
      } else if ("prefix" in m && typeof m.prefix === "string") {
        const prefix = m.prefix;
        tests.push((vs) => vs.some((v) => typeof v === "string" && v.startsWith(prefix)));
      } else throw unsupported(`the match ${JSON.stringify(m)}`);
    } else if (name === "range") {
      const test = rangeTest(spec);
      tests.push((vs) => vs.some((v) => typeof v === "number" && test(v)));
    } else if (name === "values_count") {
      const test = rangeTest(spec);
      tests.push((vs) => test(vs.length));
    } else if (name === "is_empty") {
      tests.push((vs) => (vs.filter((v) => v !== null).length === 0) === spec);
    } else if (name === "is_null") {
      tests.push((_vs, payload) => {
        const raw = valuesAt(payload, key);
        return (raw.length === 1 && raw[0] === null) === spec;
      });
    } else {
      throw unsupported(`the condition ${name}`);
    }
  }
  return (p) => {
    const values = valuesAt(p.payload, key);
    return tests.every((t) => t(values, p.payload));
  };
}

function compileCondition(c: unknown): Predicate {
  if (c === null || typeof c !== "object" || Array.isArray(c)) {
    throw new QdrantError(400, `Json deserialize error: bad condition ${JSON.stringify(c)}`);
  }
  const o = c as Record<string, unknown>;
  if ("key" in o) return compileFieldCondition(o);
  if ("has_id" in o) {
    const keys = new Set(asList(o.has_id).map((id) => normalizeId(id).key));
    return (p) => keys.has(normalizeId(p.id).key);
  }
  if ("is_empty" in o || "is_null" in o) {
    const field = (o.is_empty ?? o.is_null) as { key?: unknown };
    if (typeof field?.key !== "string") throw unsupported(`the condition ${JSON.stringify(o)}`);
    return compileFieldCondition({ key: field.key, [Object.keys(o)[0]!]: true });
  }
  if ("must" in o || "should" in o || "must_not" in o || "min_should" in o) return compileFilter(o);
  throw unsupported(`the condition ${JSON.stringify(o)}`);
}

function compileFilter(filter: unknown): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (typeof filter !== "object" || Array.isArray(filter)) {
    throw new QdrantError(400, "Json deserialize error: filter must be an object");
  }
  const f = filter as Record<string, unknown>;
  for (const k of Object.keys(f)) {
    if (!["must", "should", "must_not", "min_should"].includes(k)) {
      throw new QdrantError(400, `Json deserialize error: unknown field \`${k}\` in filter`);
    }
  }
  const must = asList(f.must).map(compileCondition);
  const should = asList(f.should).map(compileCondition);
  const mustNot = asList(f.must_not).map(compileCondition);
  let minShould: { conditions: Predicate[]; min: number } | undefined;
  if (f.min_should != null) {
    const ms = f.min_should as { conditions?: unknown; min_count?: unknown };
    if (!Array.isArray(ms.conditions) || typeof ms.min_count !== "number") {
      throw new QdrantError(400, "Json deserialize error: bad min_should");
    }
    minShould = { conditions: ms.conditions.map(compileCondition), min: ms.min_count };
  }
  return (p) =>
    must.every((c) => c(p)) &&
    (should.length === 0 || should.some((c) => c(p))) &&
    !mustNot.some((c) => c(p)) &&
    (!minShould || minShould.conditions.filter((c) => c(p)).length >= minShould.min);
}

// ---------------------------------------------------------------------------------------------
// Vectors and scores.

const sparseSchema = z.object({
  indices: z.array(z.number().int().min(0).max(2 ** 32 - 1)),
  values: z.array(z.number()),
}).strict();

function sparseVector(raw: unknown): Sparse {
  const r = sparseSchema.safeParse(raw);
  if (!r.success) throw new QdrantError(400, "Json deserialize error: expected a sparse vector");
  const { indices, values } = r.data;
  if (indices.length !== values.length) {
    throw new QdrantError(
      422,
      "Validation error in JSON body: [indices: must be the same length as values]",
    );
  }
  if (new Set(indices).size !== indices.length) {
    throw new QdrantError(422, "Validation error in JSON body: [indices: must be unique]");
  }
  return { indices: [...indices], values: [...values] };
}

/** A point's vectors: the unnamed dense one and its named sparse ones. */
function pointVectors(
  raw: unknown,
  collection: Collection,
): { dense: Float32Array; sparse: Map<string, Sparse> } {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const named = raw as Record<string, unknown>;
    const sparse = new Map<string, Sparse>();
    for (const [name, v] of Object.entries(named)) {
      if (name === "") continue;
      if (!collection.sparseConfig.has(name)) {
        throw wrongInput(`Not existing vector name error: ${name}`);
      }
      sparse.set(name, sparseVector(v));
    }
    if (!("" in named)) throw unsupported("points without the unnamed dense vector");
    return { dense: denseVector(named[""], collection), sparse };
  }
  return { dense: denseVector(raw, collection), sparse: new Map() };
}

function denseVector(raw: unknown, collection: Collection): Float32Array {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const names = Object.keys(raw);
    if (names.length === 1 && names[0] === "") {
      return denseVector(Object.values(raw)[0], collection);
    }
    throw wrongInput(`Not existing vector name error: ${names.join(", ")}`);
  }
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new QdrantError(400, "Json deserialize error: expected a dense vector of numbers");
  }
  if (raw.length !== collection.size) {
    throw wrongInput(
      `Vector dimension error: expected dim: ${collection.size}, got ${raw.length}`,
    );
  }
  const v = Float32Array.from(raw as number[]);
  if (collection.distance === "Cosine") {
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm > 0) { for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm; }
  }
  return v;
}

function score(distance: Distance, a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (distance === "Cosine" || distance === "Dot") s += x * y;
    else if (distance === "Euclid") s += (x - y) ** 2;
    else s += Math.abs(x - y);
  }
  return distance === "Euclid" ? Math.sqrt(s) : s;
}

/** Distances where a smaller score is closer. */
const ASCENDING = new Set<Distance>(["Euclid", "Manhattan"]);

function selectPayload(
  payload: Record<string, unknown>,
  spec: z.infer<typeof withPayload>,
  defaultValue: boolean,
): Record<string, unknown> | null {
  const s = spec ?? defaultValue;
  if (s === false) return null;
  if (s === true) return structuredClone(payload);
  const keep = (k: string) =>
    Array.isArray(s)
      ? s.includes(k)
      : "include" in s
      ? s.include.includes(k)
      : !s.exclude.includes(k);
  return Object.fromEntries(
    Object.entries(payload).filter(([k]) => keep(k)).map(([k, v]) => [k, structuredClone(v)]),
  );
}

// ---------------------------------------------------------------------------------------------
// The server.

/** Characters Qdrant refuses in collection names (control characters are checked apart). */
const INVALID_NAME = /[<>:"/\\|?*]/;

function validCollectionName(name: string): boolean {
  return name.length >= 1 && name.length <= 255 && !INVALID_NAME.test(name) &&
    ![...name].some((ch) => ch.charCodeAt(0) < 0x20);
}

class FakeState {
  readonly collections = new Map<string, Collection>();
  readonly aliases = new Map<string, string>();
  readonly pending: (() => void)[] = [];
  #operationId = 0;

  nextOperationId(): number {
    return this.#operationId++;
  }

  resolve(name: string): Collection {
    const real = this.aliases.get(name) ?? name;
    const c = this.collections.get(real);
    if (!c) throw notFound(name);
    return c;
  }

  flush(): void {
    while (this.pending.length > 0) this.pending.shift()!();
  }
}

function envelope(result: unknown, started: number, status = 200): Response {
  return Response.json(
    { result, status: "ok", time: (performance.now() - started) / 1000 },
    { status },
  );
}

function errorResponse(
  status: number,
  error: string,
  started: number,
  headers: Record<string, string> = {},
): Response {
  return Response.json(
    { status: { error }, time: (performance.now() - started) / 1000 },
    { status, headers },
  );
}

function collectionInfo(c: Collection): Schemas["CollectionInfo"] {
  const payloadSchema: Schemas["CollectionInfo"]["payload_schema"] = {};
  for (const [field, info] of c.payloadSchema) {
    let points = 0;
    for (const p of c.points.values()) if (valuesAt(p.payload, field).length > 0) points++;
    payloadSchema[field] = {
      data_type: info.data_type,
      ...(info.params ? { params: info.params as Schemas["PayloadSchemaParams"] } : {}),
      points,
    };
  }
  return {
    status: "green",
    optimizer_status: "ok",
    indexed_vectors_count: 0,
    points_count: c.points.size,
    segments_count: 1,
    config: {
      params: {
        vectors: { size: c.size, distance: c.distance },
        ...(c.sparseConfig.size > 0 ? { sparse_vectors: Object.fromEntries(c.sparseConfig) } : {}),
        shard_number: c.shardNumber,
        replication_factor: c.replicationFactor,
        write_consistency_factor: 1,
        on_disk_payload: true,
      },
      hnsw_config: { m: c.hnswM, ef_construct: 100, full_scan_threshold: 10000, on_disk: false },
      optimizer_config: {
        deleted_threshold: 0.2,
        vacuum_min_vector_number: 1000,
        default_segment_number: 0,
        max_segment_size: null,
        memmap_threshold: null,
        indexing_threshold: 10000,
        flush_interval_sec: 5,
        max_optimization_threads: null,
      },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
    },
    payload_schema: payloadSchema,
  };
}

/** Starts a fake Qdrant on a free port of 127.0.0.1. */
export async function startQdrantFake(options: QdrantFakeOptions = {}): Promise<QdrantFake> {
  const { apiKey, unwaitedWrites = "soon", version = "1.19.0" } = options;
  const state = new FakeState();
  const requests: RecordedRequest[] = [];
  const failures: InjectedFailure[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const scheduleFlush = () => {
    if (unwaitedWrites !== "soon" || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      state.flush();
    }, 0);
  };

  /** Applies a write now (wait=true) or later, always after the writes acknowledged before it. */
  const write = (
    query: Record<string, string>,
    apply: () => void,
    started: number,
  ): Response => {
    const operation_id = state.nextOperationId();
    const result: Schemas["UpdateResult"] = { operation_id, status: "completed" };
    if (query.wait === "true") {
      state.flush();
      apply();
    } else {
      state.pending.push(() => {
        try {
          apply();
        } catch { /* a real server logs failed async operations; nothing to answer to */ }
      });
      result.status = "acknowledged";
      scheduleFlush();
    }
    return envelope(result, started);
  };

  const handle = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(req.url);
    const query = Object.fromEntries(url.searchParams);
    const text = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    let body: unknown = undefined;
    let badJson: string | undefined;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch (err) {
        badJson = err instanceof Error ? err.message : String(err);
      }
    }
    const recorded: RecordedRequest = { method: req.method, path: url.pathname, query, body };
    requests.push(recorded);
    const res = await answer(req, url, query, body, badJson, started);
    recorded.status = res.status;
    if (res.headers.get("content-type")?.includes("json")) {
      recorded.response = await res.clone().json();
    }
    return res;
  };

  const answer = (
    req: Request,
    url: URL,
    query: Record<string, string>,
    body: unknown,
    badJson: string | undefined,
    started: number,
  ): Response => {
    const failure = failures.shift();
    if (failure) {
      return errorResponse(
        failure.status ?? 503,
        failure.error ?? "Service unavailable (injected by the Qdrant fake)",
        started,
        failure.headers,
      );
    }
    const parts = url.pathname.split("/").filter((s) => s !== "").map(decodeURIComponent);
    const open = parts.length === 1 && ["healthz", "livez", "readyz"].includes(parts[0]!);
    if (apiKey !== undefined && !open) {
      const given = req.headers.get("api-key") ??
        req.headers.get("authorization")?.replace(/^Bearer\s+/i, "");
      if (given === null || given === undefined) {
        return errorResponse(
          401,
          "Must provide an API key or an Authorization bearer token",
          started,
        );
      }
      if (given !== apiKey) return errorResponse(401, "Invalid API key or JWT", started);
    }
    if (badJson !== undefined) {
      return errorResponse(400, `Json deserialize error: ${badJson}`, started);
    }
    try {
      return route(req.method, parts, query, body, started);
    } catch (err) {
      if (err instanceof QdrantError) return errorResponse(err.status, err.message, started);
      return errorResponse(
        500,
        `Service internal error: ${err instanceof Error ? err.message : String(err)}`,
        started,
      );
    }
  };

  const route = (
    method: string,
    parts: string[],
    query: Record<string, string>,
    body: unknown,
    started: number,
  ): Response => {
    const [a, name, b, c, d] = parts;
    const key = `${method} /${a ?? ""}${name === undefined ? "" : "/{}"}${b ? `/${b}` : ""}${
      c ? `/${c}` : ""
    }${d ? `/${d}` : ""}`;
    if (parts.length === 0 && method === "GET") {
      const info: Schemas["VersionInfo"] = {
        title: "qdrant - vector search engine",
        version,
        commit: "qdrant-fake",
      };
      return Response.json(info);
    }
    if (parts.length === 1 && ["healthz", "livez", "readyz"].includes(a!) && method === "GET") {
      return new Response(`${a} check passed`, { headers: { "content-type": "text/plain" } });
    }
    if (method === "POST" && a === "collections" && name === "aliases" && parts.length === 2) {
      return changeAliases(body, started);
    }
    if (a === "aliases" && parts.length === 1 && method === "GET") {
      const aliases: Schemas["AliasDescription"][] = [];
      for (const [alias_name, collection_name] of state.aliases) {
        if (state.collections.has(collection_name)) aliases.push({ alias_name, collection_name });
      }
      const result: Schemas["CollectionsAliasesResponse"] = { aliases };
      return envelope(result, started);
    }
    if (a !== "collections" || parts.length > 5) {
      throw new QdrantError(
        404,
        `Not found: the Qdrant fake has no route ${method} /${parts.join("/")}`,
      );
    }
    if (name === undefined) {
      if (method !== "GET") throw new QdrantError(405, `Method ${method} not allowed`);
      const result: Schemas["CollectionsResponse"] = {
        collections: [...state.collections.keys()].map((n) => ({ name: n })),
      };
      return envelope(result, started);
    }
    if (method === "PUT" && b === "vectors" && c !== undefined && parts.length === 4) {
      return createVectorName(state.resolve(name), c, query, body, started);
    }
    switch (key) {
      case "GET /collections/{}":
        return envelope(collectionInfo(state.resolve(name)), started);
      case "PUT /collections/{}":
        return createCollection(name, body, started);
      case "PATCH /collections/{}": {
        const col = state.resolve(name);
        const { hnsw_config } = parseBody(updateCollectionBody, body);
        if (hnsw_config?.m != null) col.hnswM = hnsw_config.m;
        return envelope(true, started);
      }
      case "DELETE /collections/{}": {
        const existed = state.collections.delete(name);
        for (const [alias, target] of [...state.aliases]) {
          if (target === name) state.aliases.delete(alias);
        }
        return envelope(existed, started);
      }
      case "GET /collections/{}/exists": {
        const result: Schemas["CollectionExistence"] = {
          exists: state.collections.has(state.aliases.get(name) ?? name),
        };
        return envelope(result, started);
      }
      case "GET /collections/{}/aliases": {
        const aliases: Schemas["AliasDescription"][] = [];
        for (const [alias_name, target] of state.aliases) {
          if (target === name) aliases.push({ alias_name, collection_name: target });
        }
        return envelope({ aliases } satisfies Schemas["CollectionsAliasesResponse"], started);
      }
      case "PUT /collections/{}/index": {
        const col = state.resolve(name);
        const { field_name, field_schema } = parseBody(createIndexBody, body);
        if (field_schema == null) throw wrongInput("field_schema is required by the fake");
        const dataType =
          (typeof field_schema === "string" ? field_schema : field_schema.type) as Schemas[
            "PayloadSchemaType"
          ];
        return write(query, () => {
          col.payloadSchema.set(field_name, {
            data_type: dataType,
            params: typeof field_schema === "string" ? undefined : field_schema,
          });
        }, started);
      }
      case "PUT /collections/{}/points":
        return upsertPoints(state.resolve(name), query, body, started);
      case "POST /collections/{}/points":
        return retrievePoints(state.resolve(name), body, started);
      case "PUT /collections/{}/points/vectors":
        return updateVectors(state.resolve(name), query, body, started);
      case "POST /collections/{}/points/delete":
        return deletePoints(state.resolve(name), query, body, started);
      case "POST /collections/{}/points/count": {
        const col = state.resolve(name);
        const { filter } = parseBody(countBody, body);
        const pred = compileFilter(filter);
        let count = 0;
        for (const p of col.points.values()) if (pred(p)) count++;
        return envelope({ count } satisfies Schemas["CountResult"], started);
      }
      case "POST /collections/{}/points/query":
        return queryPoints(state.resolve(name), body, started);
      case "POST /collections/{}/points/query/batch":
        return queryBatch(state.resolve(name), body, started);
    }
    throw new QdrantError(404, `Not found: the Qdrant fake has no route ${key}`);
  };

  const createCollection = (name: string, body: unknown, started: number): Response => {
    if (!validCollectionName(name)) {
      throw new QdrantError(
        422,
        `Validation error in path parameters: [name: collection name contains forbidden characters]`,
      );
    }
    const { vectors, sparse_vectors, shard_number, replication_factor, hnsw_config } = parseBody(
      createCollectionBody,
      body,
    );
    const params = vectorParams.safeParse(vectors);
    if (!params.success) {
      throw unsupported("collections without exactly one unnamed dense vector");
    }
    if (params.data.size < 1 || params.data.size > 65536) {
      throw new QdrantError(
        422,
        `Validation error in JSON body: [vectors.size: value ${params.data.size} invalid, must be from 1 to 65536]`,
      );
    }
    if (state.collections.has(name)) {
      throw new QdrantError(409, `Wrong input: Collection \`${name}\` already exists!`);
    }
    if (state.aliases.has(name)) {
      throw wrongInput(
        `Can't create collection with name ${name}. Alias with the same name already exists`,
      );
    }
    state.collections.set(name, {
      name,
      size: params.data.size,
      distance: params.data.distance,
      sparseConfig: new Map(
        Object.entries(sparse_vectors ?? {}).map((
          [n, v],
        ) => [n, { modifier: v.modifier ?? "none" }]),
      ),
      shardNumber: shard_number ?? 1,
      replicationFactor: replication_factor ?? 1,
      hnswM: hnsw_config?.m ?? 16,
      points: new Map(),
      payloadSchema: new Map(),
      version: 0,
    });
    return envelope(true, started);
  };

  const changeAliases = (body: unknown, started: number): Response => {
    const { actions } = parseBody(aliasesBody, body);
    // Like Qdrant: actions apply in order under one lock; one that fails stops the rest.
    for (const action of actions) {
      if ("create_alias" in action) {
        const { collection_name, alias_name } = action.create_alias;
        if (!state.collections.has(collection_name)) throw notFound(collection_name);
        if (state.collections.has(alias_name)) {
          throw wrongInput(`Collection \`${alias_name}\` already exists!`);
        }
        state.aliases.set(alias_name, collection_name);
      } else if ("delete_alias" in action) {
        state.aliases.delete(action.delete_alias.alias_name);
      } else {
        const { old_alias_name, new_alias_name } = action.rename_alias;
        const target = state.aliases.get(old_alias_name);
        if (target === undefined) {
          throw new QdrantError(404, `Not found: Alias ${old_alias_name} does not exists!`);
        }
        state.aliases.delete(old_alias_name);
        state.aliases.set(new_alias_name, target);
      }
    }
    return envelope(true, started);
  };

  const upsertPoints = (
    col: Collection,
    query: Record<string, string>,
    body: unknown,
    started: number,
  ): Response => {
    const parsed = parseBody(upsertBody, body);
    const items: { id: unknown; vector: unknown; payload?: Record<string, unknown> | null }[] =
      "points" in parsed ? parsed.points : parsed.batch.ids.map((id, i) => ({
        id,
        vector: parsed.batch.vectors[i],
        payload: parsed.batch.payloads?.[i],
      }));
    if ("batch" in parsed && parsed.batch.vectors.length !== parsed.batch.ids.length) {
      throw wrongInput("number of ids and vectors must be equal");
    }
    // Validate the whole request before changing anything.
    const ready = items.map((p) => ({
      ...normalizeId(p.id),
      vectors: pointVectors(p.vector, col),
      payload: structuredClone(p.payload ?? {}),
    }));
    return write(query, () => {
      col.version++;
      for (const p of ready) {
        col.points.set(p.key, {
          id: p.id,
          vector: p.vectors.dense,
          sparse: p.vectors.sparse,
          payload: p.payload,
          version: col.version,
        });
      }
    }, started);
  };

  /** `PUT /collections/{name}/vectors/{vector}`: a new named vector (sparse only in the fake). */
  const createVectorName = (
    col: Collection,
    vectorName: string,
    query: Record<string, string>,
    body: unknown,
    started: number,
  ): Response => {
    const parsed = parseBody(createVectorNameBody, body);
    if (!("sparse" in parsed)) throw unsupported("creating a dense named vector");
    if (vectorName === "" || col.sparseConfig.has(vectorName)) {
      throw wrongInput(`Vector with name ${vectorName} already exists`);
    }
    const modifier = parsed.sparse.modifier ?? "none";
    return write(query, () => {
      col.sparseConfig.set(vectorName, { modifier });
    }, started);
  };

  /**
   * `PUT /collections/{name}/points/vectors`: replaces the named vectors given for each point,
   * keeping its other vectors and payload; a missing point fails the whole request with 404.
   */
  const updateVectors = (
    col: Collection,
    query: Record<string, string>,
    body: unknown,
    started: number,
  ): Response => {
    const parsed = parseBody(updateVectorsBody, body);
    if (parsed.update_filter != null) throw unsupported("update_filter");
    const ready = parsed.points.map((p) => {
      const { key, id } = normalizeId(p.id);
      if (!col.points.has(key)) {
        throw new QdrantError(404, `Not found: No point with id ${id} found`);
      }
      if (p.vector === null || typeof p.vector !== "object" || Array.isArray(p.vector)) {
        throw unsupported("updating the unnamed dense vector");
      }
      const sparse = new Map<string, Sparse>();
      for (const [vn, v] of Object.entries(p.vector as Record<string, unknown>)) {
        if (vn === "") throw unsupported("updating the unnamed dense vector");
        if (!col.sparseConfig.has(vn)) throw wrongInput(`Not existing vector name error: ${vn}`);
        sparse.set(vn, sparseVector(v));
      }
      return { key, sparse };
    });
    return write(query, () => {
      col.version++;
      for (const u of ready) {
        const p = col.points.get(u.key);
        if (!p) continue; // deleted by an earlier queued write
        for (const [vn, v] of u.sparse) p.sparse.set(vn, v);
        p.version = col.version;
      }
    }, started);
  };

  const deletePoints = (
    col: Collection,
    query: Record<string, string>,
    body: unknown,
    started: number,
  ): Response => {
    const parsed = parseBody(deleteBody, body);
    let select: Predicate;
    if ("points" in parsed) {
      const keys = new Set(parsed.points.map((id) => normalizeId(id).key));
      select = (p) => keys.has(normalizeId(p.id).key);
    } else {
      select = compileFilter(parsed.filter);
    }
    return write(query, () => {
      col.version++;
      for (const [key, p] of [...col.points]) if (select(p)) col.points.delete(key);
    }, started);
  };

  const retrievePoints = (col: Collection, body: unknown, started: number): Response => {
    const { ids, with_payload, with_vector } = parseBody(retrieveBody, body);
    const out: Schemas["Record"][] = [];
    for (const raw of ids) {
      const p = col.points.get(normalizeId(raw).key);
      if (!p) continue;
      out.push({
        id: p.id,
        payload: selectPayload(p.payload, with_payload, true),
        vector: with_vector ? Array.from(p.vector) : null,
      });
    }
    return envelope(out, started);
  };

  /** Points of `col` by `q` (a query request or a prefetch), best first, limit applied. */
  const rank = (col: Collection, q: z.infer<typeof queryBody>): { p: StoredPoint; s: number }[] => {
    if (q.lookup_from != null) throw unsupported("lookup_from");
    const limit = q.limit ?? 10;
    const offset = q.offset ?? 0;
    if (limit < 1) {
      throw new QdrantError(
        422,
        `Validation error in JSON body: [limit: value ${limit} invalid, must be 1 or larger]`,
      );
    }
    if (offset < 0) throw new QdrantError(400, "Json deserialize error: invalid offset");
    const pred = compileFilter(q.filter);
    const prefetches = q.prefetch == null ? [] : asList(q.prefetch);
    let raw = q.query;
    let scored: { p: StoredPoint; s: number }[];
    let asc = false;
    if (prefetches.length > 0) {
      // Fusion over the prefetches' lists (each filtered by its own filter and the outer one).
      let k = 2;
      if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && "rrf" in raw) {
        const rrf = z.object({ k: z.number().int().min(1).nullish(), weights: z.null().optional() })
          .strict().safeParse((raw as { rrf: unknown }).rrf);
        if (!rrf.success) throw unsupported(`the rrf parameters ${JSON.stringify(raw)}`);
        k = rrf.data.k ?? k;
      } else if (
        !(raw !== null && typeof raw === "object" && !Array.isArray(raw) &&
          (raw as { fusion?: unknown }).fusion === "rrf")
      ) {
        throw unsupported(`prefetch with the query ${JSON.stringify(raw)}`);
      }
      const fused = new Map<string, { p: StoredPoint; s: number }>();
      for (const pre of prefetches) {
        const sub = parseBody(queryBody, pre);
        const list = rank(col, sub).filter(({ p }) => pred(p));
        list.forEach(({ p }, i) => {
          const key = normalizeId(p.id).key;
          const f = fused.get(key) ?? { p, s: 0 };
          f.s += 1 / (k + i + 1);
          fused.set(key, f);
        });
      }
      scored = [...fused.values()];
      if (q.score_threshold != null) scored = scored.filter((x) => x.s >= q.score_threshold!);
    } else {
      if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && "nearest" in raw) {
        raw = (raw as { nearest: unknown }).nearest;
      }
      if (raw == null) throw unsupported("queries without a vector");
      const using = q.using ?? "";
      if (using !== "") {
        const config = col.sparseConfig.get(using);
        if (!config) throw wrongInput(`Not existing vector name error: ${using}`);
        const query = sparseVector(raw);
        const holders = [...col.points.values()].filter((p) => p.sparse.has(using));
        const idf = new Map<number, number>();
        if (config.modifier === "idf") {
          for (const i of query.indices) {
            const n = holders.filter((p) => p.sparse.get(using)!.indices.includes(i)).length;
            idf.set(i, Math.log(1 + (holders.length - n + 0.5) / (n + 0.5)));
          }
        }
        scored = [];
        for (const p of holders) {
          if (!pred(p)) continue;
          const v = p.sparse.get(using)!;
          let s = 0;
          let shared = false;
          query.indices.forEach((i, qi) => {
            const at = v.indices.indexOf(i);
            if (at < 0) return;
            shared = true;
            s += query.values[qi]! * v.values[at]! * (idf.get(i) ?? 1);
          });
          if (!shared) continue;
          if (q.score_threshold != null && s < q.score_threshold) continue;
          scored.push({ p, s });
        }
      } else {
        const vector = denseVector(raw, col);
        asc = ASCENDING.has(col.distance);
        scored = [];
        for (const p of col.points.values()) {
          if (!pred(p)) continue;
          const s = score(col.distance, vector, p.vector);
          if (q.score_threshold != null && (asc ? s > q.score_threshold : s < q.score_threshold)) {
            continue;
          }
          scored.push({ p, s });
        }
      }
    }
    scored.sort((x, y) =>
      (asc ? x.s - y.s : y.s - x.s) || (String(x.p.id) < String(y.p.id) ? -1 : 1)
    );
    return scored.slice(offset, offset + limit);
  };

  const answerQuery = (col: Collection, body: unknown): Schemas["QueryResponse"] => {
    const q = parseBody(queryBody, body);
    const points: Schemas["ScoredPoint"][] = rank(col, q).map(({ p, s }) => ({
      id: p.id,
      version: p.version,
      score: s,
      payload: selectPayload(p.payload, q.with_payload, false),
      vector: q.with_vector ? Array.from(p.vector) : null,
    }));
    return { points };
  };

  const queryPoints = (col: Collection, body: unknown, started: number): Response =>
    envelope(answerQuery(col, body), started);

  const queryBatch = (col: Collection, body: unknown, started: number): Response => {
    const { searches } = parseBody(z.object({ searches: z.array(z.unknown()) }), body);
    return envelope(searches.map((q) => answerQuery(col, q)), started);
  };

  const controller = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen },
    handle,
  );
  const addr = await listening;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      controller.abort();
      await server.finished;
    })();
    return closing;
  };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    failNext(count: number, failure: InjectedFailure = {}) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    flush: () => state.flush(),
    get pendingWrites() {
      return state.pending.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
