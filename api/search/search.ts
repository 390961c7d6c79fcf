/**
 * Search over a user's collections in three modes:
 *
 * - `dense`: embed the query in query mode (once per embedding model among the collections),
 *   search each collection's vectors through its alias by cosine similarity;
 * - `lexical`: each collection's lexical index (the stores' `lexicalSearch`: identifiers split
 *   and kept whole, see `shared/vector/lexical.ts`);
 * - `hybrid` (the default): both lists, each at least 3k deep, fused by reciprocal rank
 *   (Σ 1/(rrf_k + rank)). One collection is fused by its store (in Qdrant, on the server);
 *   several are fused here over one dense list per embedding model (cosine similarities of one
 *   model compare; of two models they do not) and one lexical list.
 *
 * Then chunk text, page and the current uri come from Postgres (the source of truth), with the
 * `[start, end)` spans of the query's terms in the text.
 *
 * With a read replica (`DATABASE_READ_URL`), `deps.db` is the replica: the collections, the
 * hydration and (pgvector on the main database) the vectors are read there, and may lag the
 * primary. A collection named in the request that the replica does not hold yet is looked up on
 * `deps.primary` (so a collection just created is not 404); points whose chunk rows have not
 * reached the replica are dropped like points of a replaced document (docs/SCALING.md).
 */
import { z } from "zod";
import {
  AppError,
  type CollectionRow,
  DimensionMismatchError,
  fusionDepth,
  highlightSpans,
  type Queryable,
  type RankedList,
  rrfFuse,
  type VectorHit,
  type VectorStore,
} from "@semantik/shared";

export const SEARCH_MODES = ["hybrid", "dense", "lexical"] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

export const searchRequestSchema = z.strictObject({
  query: z.string().min(1).max(1000).refine((q) => q.trim().length > 0, "must not be blank"),
  collection_ids: z.array(z.uuid()).min(1).max(100).optional(),
  k: z.number().int().min(1).max(100).default(10),
  score_threshold: z.number().min(-1).max(1).optional(),
  mode: z.enum(SEARCH_MODES).default("hybrid"),
  rrf_k: z.number().int().min(1).max(1000).default(60),
  rerank: z.boolean().default(false),
  filters: z.strictObject({
    document_ids: z.array(z.uuid()).max(1000).optional(),
    path_prefix: z.string().min(1).max(4096).optional(),
  }).optional(),
}).refine((r) => !(r.mode === "lexical" && r.score_threshold !== undefined), {
  message: "score_threshold is a cosine similarity: it applies to the dense and hybrid modes",
  path: ["score_threshold"],
});
export type SearchRequest = z.infer<typeof searchRequestSchema>;
/** A request as callers write it (defaults not yet applied). */
export type SearchRequestInput = z.input<typeof searchRequestSchema>;

export interface SearchScores {
  /** Cosine similarity, or null when the dense retriever did not return the chunk. */
  dense: number | null;
  /** The store's lexical relevance, or null when the lexical retriever did not return it. */
  lexical: number | null;
  /** The reciprocal rank fusion value, or null when the results were not fused. */
  fused: number | null;
  /** The cross-encoder's logit, or null when the results were not reranked. */
  rerank: number | null;
}

export interface SearchResult {
  collection_id: string;
  document_id: string;
  uri: string;
  chunk_index: number;
  /**
   * The value results are ordered by: the rerank logit when reranked, else fused when fused,
   * else the one retriever's score.
   */
  score: number;
  scores: SearchScores;
  text: string;
  /** The PDF page the chunk is on, else null. */
  page: number | null;
  /** `[start, end)` character spans of the query's terms in `text`. */
  highlights: [number, number][];
  embedding_model: string;
}

export interface SearchResponse {
  mode: SearchMode;
  results: SearchResult[];
  /**
   * Collections searched by their dense list alone in hybrid mode because their lexical index is
   * still being built (their lexical backfill has not completed); empty otherwise.
   */
  lexical_pending: string[];
}

export interface SearchDeps {
  /** Where search reads: the primary, or its read replica. */
  db: Queryable;
  /**
   * The primary, when `db` is a replica: collections named in a request that `db` lacks are
   * looked up here before they are called missing. @default {undefined (db is the primary)}
   */
  primary?: Queryable;
  vectors: VectorStore;
  defaultEmbeddingModel: string;
  /**
   * The query's vector with `model` at `precision` (the collection's; null: the default, for a
   * collection never indexed, which has no vectors to match).
   */
  embedQuery(
    model: string,
    text: string,
    precision?: "fp32" | "fp16" | "int8" | null,
  ): Promise<Float32Array | number[]>;
  /**
   * A cross-encoder's logit for each passage against the query (higher is more relevant), in
   * the passages' order; undefined: no reranker configured (`rerank: true` is 422).
   */
  rerank?(query: string, passages: string[]): Promise<number[]>;
}

/** How many of the best results the reranker scores (at least k). */
export const RERANK_DEPTH = 50;

async function chooseCollections(
  deps: SearchDeps,
  userId: string,
  ids: string[] | undefined,
): Promise<CollectionRow[]> {
  if (!ids) {
    return await deps.db.query<CollectionRow>(
      `select * from collections
        where owner_id = $1 and embedding_model = $2 and status <> 'deleting'
        order by created_at`,
      [userId, deps.defaultEmbeddingModel],
    );
  }
  const unique = [...new Set(ids)];
  const sql = "select * from collections where id = any($1::uuid[])";
  const rows = await deps.db.query<CollectionRow>(sql, [unique]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  // A replica may not hold a collection created a moment ago: the primary decides 404.
  const unseen = unique.filter((id) => !byId.has(id));
  if (unseen.length > 0 && deps.primary) {
    for (const r of await deps.primary.query<CollectionRow>(sql, [unseen])) byId.set(r.id, r);
  }
  for (const id of unique) {
    const row = byId.get(id);
    if (!row) throw new AppError("not_found", `Collection ${id} does not exist`);
    if (row.owner_id !== userId) {
      throw new AppError("forbidden", `Collection ${id} belongs to another user`);
    }
  }
  return unique.map((id) => byId.get(id)!).filter((r) => r.status !== "deleting");
}

export async function search(
  deps: SearchDeps,
  { userId, request: input }: { userId: string; request: SearchRequestInput },
): Promise<SearchResponse> {
  const request = searchRequestSchema.parse(input);
  if (request.rerank && !deps.rerank) {
    throw new AppError(
      "reranker_unavailable",
      "No reranker is configured on this server: search without rerank",
    );
  }
  try {
    return await searchOnce(deps, userId, request);
  } catch (err) {
    // A reindex to another model switches the collection's row and then its vector alias; a
    // search between the two embedded with the old model meets the new vectors. Read again.
    if (err instanceof DimensionMismatchError) return await searchOnce(deps, userId, request);
    throw err;
  }
}

/** A candidate before hydration. */
interface Candidate {
  collection: CollectionRow;
  id: string;
  score: number;
  scores: SearchScores;
}

async function searchOnce(
  deps: SearchDeps,
  userId: string,
  request: SearchRequest,
): Promise<SearchResponse> {
  const { mode } = request;
  const collections = await chooseCollections(deps, userId, request.collection_ids);
  // Collections indexed before hybrid search, until their lexical backfill completes.
  const pending = collections.filter((c) => c.lexical_ready === false).map((c) => c.id);
  if (mode === "lexical" && pending.length > 0) {
    throw new AppError(
      "conflict",
      `The lexical index of collection${pending.length > 1 ? "s" : ""} ${pending.join(", ")} ` +
        `is still being built (its lexical backfill operation has not completed): search in ` +
        `hybrid or dense mode until then`,
      { collection_ids: pending },
    );
  }
  const lexical_pending = mode === "hybrid" ? pending : [];
  if (collections.length === 0) return { mode, results: [], lexical_pending };
  const vectors = await queryVectors(deps, collections, request);
  // With rerank, the best RERANK_DEPTH results are scored by the cross-encoder.
  const want = request.rerank ? Math.max(RERANK_DEPTH, request.k) : request.k;
  // Points without a chunk row (a document replaced meanwhile, or written by an operation that
  // stopped before recording it) are dropped by hydration; when they fill the top k, ask the
  // retrievers for more, so that k real chunks are returned whenever k match.
  let fetch = want;
  for (;;) {
    const candidates = await retrieve(deps, collections, { ...request, k: fetch }, vectors);
    const results = await hydrate(deps, request.query, candidates);
    // Fewer candidates than asked for: the retrievers have nothing more to give.
    if (results.length >= want || candidates.length < fetch || fetch >= MAX_FETCH) {
      const top = results.slice(0, want);
      const ranked = request.rerank ? await rerank(deps, request.query, top) : top;
      return { mode, results: ranked.slice(0, request.k), lexical_pending };
    }
    fetch = Math.min(MAX_FETCH, fetch * 4);
  }
}

/** Orders `results` by the cross-encoder's logit (ties keep their order), recorded in scores. */
async function rerank(
  deps: SearchDeps,
  query: string,
  results: SearchResult[],
): Promise<SearchResult[]> {
  if (results.length === 0) return results;
  const logits = await deps.rerank!(query, results.map((r) => r.text));
  if (logits.length !== results.length || !logits.every(Number.isFinite)) {
    throw new Error(
      `Cannot rerank: the reranker gave ${logits.length} scores for ${results.length} passages`,
    );
  }
  return results
    .map((r, i) => ({
      r: { ...r, score: logits[i]!, scores: { ...r.scores, rerank: logits[i]! } },
      i,
    }))
    .sort((a, b) => b.r.score - a.r.score || a.i - b.i)
    .map((x) => x.r);
}

/** Most results asked of the retrievers while skipping points without chunk rows. */
const MAX_FETCH = 1000;

/** A collection's query vector: one per (model, precision) among the collections. */
type QueryVectors = (c: CollectionRow) => Float32Array | number[];

async function queryVectors(
  deps: SearchDeps,
  collections: CollectionRow[],
  request: SearchRequest,
): Promise<QueryVectors> {
  const keyOf = (c: CollectionRow) => `${c.embedding_model}/${c.embedding_precision ?? "default"}`;
  const vectors = new Map<string, Float32Array | number[]>();
  if (request.mode !== "lexical") {
    const distinct = new Map(collections.map((c) => [keyOf(c), c]));
    const embedded = await Promise.all(
      [...distinct.values()].map((c) =>
        deps.embedQuery(c.embedding_model, request.query, c.embedding_precision)
      ),
    );
    [...distinct.keys()].forEach((key, i) => vectors.set(key, embedded[i]!));
  }
  return (c) => {
    const v = vectors.get(keyOf(c));
    if (!v) throw new Error(`No query vector for collection ${c.id} (mode ${request.mode})`);
    return v;
  };
}

async function retrieve(
  deps: SearchDeps,
  collections: CollectionRow[],
  request: SearchRequest,
  vectorOf: QueryVectors,
): Promise<Candidate[]> {
  const { mode, k, query } = request;
  const filters = {
    documentIds: request.filters?.document_ids,
    uriPrefix: request.filters?.path_prefix,
  };
  const depth = fusionDepth(k);

  // One collection in hybrid mode: its store fuses (Qdrant on the server). A collection whose
  // lexical index is not ready yet has its dense list alone (fused below).
  if (mode === "hybrid" && collections.length === 1 && collections[0]!.lexical_ready !== false) {
    const c = collections[0]!;
    const hits = await deps.vectors.hybridSearch(
      c.vector_store_name,
      vectorOf(c),
      query,
      { ...filters, k, depth, rrfK: request.rrf_k, scoreThreshold: request.score_threshold },
    );
    return hits.map((h) => ({
      collection: c,
      id: h.id,
      score: h.score,
      scores: { dense: h.dense, lexical: h.lexical, fused: h.score, rerank: null },
    }));
  }

  type Hit = VectorHit & { collection: CollectionRow };
  const perCollection = await Promise.all(collections.map(async (c) => {
    const dense: Hit[] = mode === "lexical" ? [] : (await deps.vectors.search(
      c.vector_store_name,
      vectorOf(c),
      { ...filters, k: mode === "hybrid" ? depth : k, scoreThreshold: request.score_threshold },
    )).map((h) => ({ ...h, collection: c }));
    const lexical: Hit[] = mode === "dense" || c.lexical_ready === false
      ? []
      : (await deps.vectors.lexicalSearch(
        c.vector_store_name,
        query,
        { ...filters, k: mode === "hybrid" ? depth : k },
      )).map((h) => ({ ...h, collection: c }));
    return { c, dense, lexical };
  }));
  const byScore = (a: Hit, b: Hit) => b.score - a.score;
  const key = (h: Hit) => `${h.collection.id}/${h.id}`;
  // Dense lists by model (cosine similarities of one model compare), one lexical list.
  const denseLists = new Map<string, Hit[]>();
  for (const { c, dense } of perCollection) {
    denseLists.set(c.embedding_model, [...(denseLists.get(c.embedding_model) ?? []), ...dense]);
  }
  const lexical = perCollection.flatMap((p) => p.lexical).sort(byScore);

  if (mode === "lexical") {
    return lexical.slice(0, k).map((h) => ({
      collection: h.collection,
      id: h.id,
      score: h.score,
      scores: { dense: null, lexical: h.score, fused: null, rerank: null },
    }));
  }
  if (mode === "dense" && denseLists.size === 1) {
    return [...denseLists.values()][0]!.sort(byScore).slice(0, k).map((h) => ({
      collection: h.collection,
      id: h.id,
      score: h.score,
      scores: { dense: h.score, lexical: null, fused: null, rerank: null },
    }));
  }
  // Fusion: hybrid mode, or dense mode over several models.
  const lists: RankedList<Hit>[] = [...denseLists.values()].map((l) => ({
    items: l.sort(byScore),
    key,
  }));
  const lexicalAt = lists.length;
  if (mode === "hybrid") lists.push({ items: lexical, key });
  return rrfFuse(lists, request.rrf_k).slice(0, k).map((f) => {
    const denseHit = f.from.slice(0, lexicalAt).find((h) => h !== undefined);
    const lexicalHit = f.from[lexicalAt];
    const any = (denseHit ?? lexicalHit)!;
    return {
      collection: any.collection,
      id: any.id,
      score: f.score,
      scores: {
        dense: denseHit?.score ?? null,
        lexical: lexicalHit?.score ?? null,
        fused: f.score,
        rerank: null,
      },
    };
  });
}

async function hydrate(
  deps: SearchDeps,
  query: string,
  candidates: Candidate[],
): Promise<SearchResult[]> {
  if (candidates.length === 0) return [];
  // The vector payload names the point; text, page and the current uri come from Postgres, the
  // source of truth. A point whose chunk row is gone (a document replaced meanwhile) is dropped.
  const rows = await deps.db.query<
    {
      id: string;
      collection_id: string;
      document_id: string;
      ordinal: number;
      text: string;
      page: number | null;
      uri: string;
    }
  >(
    `select k.id, k.collection_id, k.document_id, k.ordinal, k.text, k.page, d.uri
       from chunks k join documents d on d.id = k.document_id
      where k.collection_id = any($1::uuid[]) and k.id = any($2::uuid[])`,
    [[...new Set(candidates.map((c) => c.collection.id))], candidates.map((c) => c.id)],
  );
  const byKey = new Map(rows.map((r) => [`${r.collection_id}/${r.id}`, r]));
  const results: SearchResult[] = [];
  for (const c of candidates) {
    const r = byKey.get(`${c.collection.id}/${c.id}`);
    if (!r) continue;
    results.push({
      collection_id: r.collection_id,
      document_id: r.document_id,
      uri: r.uri,
      chunk_index: r.ordinal,
      score: c.score,
      scores: c.scores,
      text: r.text,
      page: r.page,
      highlights: highlightSpans(r.text, query),
      embedding_model: c.collection.embedding_model,
    });
  }
  return results;
}
