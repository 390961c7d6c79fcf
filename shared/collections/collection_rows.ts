/** The rows of `collections` and `collection_sources`, as every role reads them. */
export type CollectionStatus = "pending" | "ready" | "processing" | "error" | "deleting";

export interface CollectionRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  status: CollectionStatus;
  status_message: string | null;
  embedding_model: string;
  /** The precision its vectors were made with; null before the first indexing run. */
  embedding_precision: "fp32" | "fp16" | "int8" | null;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  sync_mode: "one_time" | "continuous";
  sync_interval_minutes: number;
  /** Continuous sync skips the collection while set (manual syncs still run). */
  sync_paused: boolean;
  vector_store_name: string;
  /**
   * Whether the lexical index covers its points; false from migration 0010 until its lexical
   * backfill (a `reindex` operation with `lexical_only`) completes.
   */
  lexical_ready: boolean;
  next_sync_at: Date | null;
  last_synced_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface SourceRow {
  id: string;
  collection_id: string;
  type: "directory" | "git" | "web";
  /** A directory source's real path; null for Git and web sources. */
  path: string | null;
  /** A Git repository's or web site's URL; null for a directory source. */
  url: string | null;
  /** The configured Git ref; null: the remote's default branch. */
  ref: string | null;
  /** The Git token sealed with SecretBox (context {@link sourceTokenContext}); never shown. */
  token_sealed: string | null;
  max_pages: number | null;
  max_depth: number | null;
  /** The commit the last indexing run of a Git source listed. */
  revision: string | null;
  /** The ref that run listed (the default branch when `ref` is null). */
  resolved_ref: string | null;
  /** When a run last listed the source. */
  listed_at: Date | null;
  include: string[];
  exclude: string[];
  created_at: Date;
}

/** What a source's sealed token is bound to: it opens for this row only. */
export function sourceTokenContext(sourceId: string): string {
  return `collection_sources/${sourceId}/token`;
}
