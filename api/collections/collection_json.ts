/**
 * Collections as the API shows them: rows with their sources, document and chunk counts, and
 * the vector count from the store (0 when the store cannot say).
 */
import {
  type CollectionRow,
  type CollectionStatus,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_PAGES,
  type Queryable,
  type SourceRow,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";

/** docs/API.md's Source: the fields every type has, then the type's own. */
interface SourceJsonBase {
  id: string;
  include: string[];
  exclude: string[];
  /** Whether a token is stored (Git); the token itself is never shown. */
  has_token: boolean;
  /** When an indexing run last listed the source; null before the first. */
  listed_at: string | null;
  created_at: string;
}

export type SourceJson =
  | SourceJsonBase & { type: "directory"; path: string }
  | SourceJsonBase & {
    type: "git";
    url: string;
    /** The configured ref; null: the remote's default branch. */
    ref: string | null;
    /** The ref the last run listed (the default branch when `ref` is null). */
    resolved_ref: string | null;
    /** The commit the last run indexed. */
    revision: string | null;
  }
  | SourceJsonBase & { type: "web"; url: string; max_pages: number; max_depth: number };

export interface CollectionJson {
  id: string;
  name: string;
  description: string;
  status: CollectionStatus;
  embedding_model: string;
  embedding_precision: "fp32" | "fp16" | "int8" | null;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  sync_mode: "one_time" | "continuous";
  sync_interval_minutes: number;
  /** Continuous sync skips the collection while true (manual syncs still run). */
  sync_paused: boolean;
  document_count: number;
  chunk_count: number;
  vector_count: number;
  sources: SourceJson[];
  created_at: string;
  updated_at: string;
}

export function toSourceJson(s: SourceRow): SourceJson {
  const base: SourceJsonBase = {
    id: s.id,
    include: s.include ?? [],
    exclude: s.exclude ?? [],
    has_token: s.token_sealed !== null,
    listed_at: s.listed_at ? s.listed_at.toISOString() : null,
    created_at: s.created_at.toISOString(),
  };
  switch (s.type) {
    case "git":
      return {
        ...base,
        type: "git",
        url: s.url!,
        ref: s.ref,
        resolved_ref: s.resolved_ref,
        revision: s.revision,
      };
    case "web":
      return {
        ...base,
        type: "web",
        url: s.url!,
        max_pages: s.max_pages ?? DEFAULT_MAX_PAGES,
        max_depth: s.max_depth ?? DEFAULT_MAX_DEPTH,
      };
    default:
      return { ...base, type: "directory", path: s.path! };
  }
}

async function sourcesOf(db: Queryable, ids: string[]): Promise<Map<string, SourceJson[]>> {
  const out = new Map<string, SourceJson[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await db.query<SourceRow>(
    `select * from collection_sources where collection_id = any($1::uuid[])
      order by created_at, id`,
    [ids],
  );
  for (const r of rows) out.get(r.collection_id)?.push(toSourceJson(r));
  return out;
}

async function countsOf(
  db: Queryable,
  ids: string[],
): Promise<Map<string, { documents: number; chunks: number }>> {
  const out = new Map<string, { documents: number; chunks: number }>();
  if (ids.length === 0) return out;
  const rows = await db.query<{ id: string; documents: number; chunks: number }>(
    `select c.id,
            (select count(*) from documents d
              where d.collection_id = c.id and d.status = 'completed') as documents,
            (select count(*) from chunks k where k.collection_id = c.id) as chunks
       from collections c where c.id = any($1::uuid[])`,
    [ids],
  );
  for (const r of rows) out.set(r.id, { documents: r.documents, chunks: r.chunks });
  return out;
}

export async function toJsonMany(
  deps: CollectionDeps,
  rows: CollectionRow[],
): Promise<CollectionJson[]> {
  const ids = rows.map((r) => r.id);
  const [sources, counts, vectors] = await Promise.all([
    sourcesOf(deps.db, ids),
    countsOf(deps.db, ids),
    Promise.all(rows.map((r) => countVectorsSafe(deps, r.vector_store_name))),
  ]);
  return rows.map((r, i) => ({
    id: r.id,
    name: r.name,
    description: r.description,
    status: r.status,
    embedding_model: r.embedding_model,
    embedding_precision: r.embedding_precision,
    vector_dim: r.vector_dim,
    chunk_size: r.chunk_size,
    chunk_overlap: r.chunk_overlap,
    sync_mode: r.sync_mode,
    sync_interval_minutes: r.sync_interval_minutes,
    sync_paused: r.sync_paused ?? false,
    document_count: counts.get(r.id)?.documents ?? 0,
    chunk_count: counts.get(r.id)?.chunks ?? 0,
    vector_count: vectors[i]!,
    sources: sources.get(r.id) ?? [],
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  }));
}

async function countVectorsSafe(deps: CollectionDeps, name: string): Promise<number> {
  if (!deps.countVectors) return 0;
  try {
    return await deps.countVectors(name);
  } catch (err) {
    // A store outage must not make the collection unreadable; readiness reports the outage.
    deps.log?.warn("cannot count vectors", { collection: name, err });
    return 0;
  }
}

export async function toCollectionJson(
  deps: CollectionDeps,
  row: CollectionRow,
): Promise<CollectionJson> {
  return (await toJsonMany(deps, [row]))[0]!;
}
