/**
 * Semantic search over a user's collections: embed the query in query mode, search each chosen
 * collection's vectors through its alias, merge by cosine similarity, then hydrate chunk text from
 * Postgres.
 */
import { z } from "zod";
import type { Queryable } from "../db/db.ts";
import { AppError } from "../errors.ts";
import type { CollectionRow } from "../collections/collections.ts";
import type { VectorStore } from "../vector/vector_store.ts";
import { DimensionMismatchError } from "../vector/errors.ts";

export const searchRequestSchema = z.strictObject({
  query: z.string().min(1).max(1000).refine((q) => q.trim().length > 0, "must not be blank"),
  collection_ids: z.array(z.uuid()).min(1).max(100).optional(),
  k: z.number().int().min(1).max(100).default(10),
  score_threshold: z.number().min(-1).max(1).optional(),
  filters: z.strictObject({
    document_ids: z.array(z.uuid()).max(1000).optional(),
    path_prefix: z.string().min(1).max(4096).optional(),
  }).optional(),
});
export type SearchRequest = z.infer<typeof searchRequestSchema>;

export interface SearchResult {
  collection_id: string;
  document_id: string;
  uri: string;
  chunk_index: number;
  score: number;
  text: string;
}

export interface SearchDeps {
  db: Queryable;
  vectors: VectorStore;
  defaultEmbeddingModel: string;
  /** Embeds one query with `model` in query mode (locally or through a worker). */
  embedQuery(model: string, text: string): Promise<Float32Array | number[]>;
}

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
  const rows = await deps.db.query<CollectionRow>(
    "select * from collections where id = any($1::uuid[])",
    [unique],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
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
  userId: string,
  request: SearchRequest,
): Promise<SearchResult[]> {
  try {
    return await searchOnce(deps, userId, request);
  } catch (err) {
    // A reindex to another model switches the collection's row and then its vector alias; a
    // search between the two embedded with the old model meets the new vectors. Read again.
    if (err instanceof DimensionMismatchError) return await searchOnce(deps, userId, request);
    throw err;
  }
}

async function searchOnce(
  deps: SearchDeps,
  userId: string,
  request: SearchRequest,
): Promise<SearchResult[]> {
  const collections = await chooseCollections(deps, userId, request.collection_ids);
  if (collections.length === 0) return [];
  const models = [...new Set(collections.map((c) => c.embedding_model))];
  if (models.length > 1) {
    throw new AppError(
      "model_mismatch",
      `Cannot search collections embedded with different models together (${models.join(", ")})`,
      { models },
    );
  }
  const vector = await deps.embedQuery(models[0]!, request.query);
  const perCollection = await Promise.all(
    collections.map((c) =>
      deps.vectors.search(c.vector_store_name, vector, {
        k: request.k,
        scoreThreshold: request.score_threshold,
        documentIds: request.filters?.document_ids,
        uriPrefix: request.filters?.path_prefix,
      })
    ),
  );
  const hits = perCollection.flat().sort((a, b) => b.score - a.score).slice(0, request.k);
  if (hits.length === 0) return [];
  // The vector payload names the point; text and the current uri come from Postgres, the source
  // of truth. A point whose chunk row is gone (a document replaced meanwhile) is dropped.
  const rows = await deps.db.query<
    {
      id: string;
      collection_id: string;
      document_id: string;
      ordinal: number;
      text: string;
      uri: string;
    }
  >(
    `select k.id, k.collection_id, k.document_id, k.ordinal, k.text, d.uri
       from chunks k join documents d on d.id = k.document_id
      where k.collection_id = any($1::uuid[]) and k.id = any($2::uuid[])`,
    [collections.map((c) => c.id), hits.map((h) => h.id)],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const results: SearchResult[] = [];
  for (const h of hits) {
    const r = byId.get(h.id);
    if (!r) continue;
    results.push({
      collection_id: r.collection_id,
      document_id: r.document_id,
      uri: r.uri,
      chunk_index: r.ordinal,
      score: h.score,
      text: r.text,
    });
  }
  return results;
}
