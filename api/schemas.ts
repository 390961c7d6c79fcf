/**
 * Response and parameter schemas for OpenAPI (request bodies come from `shared/`, where the
 * domain validates them). Field names and shapes follow docs/API.md.
 */
import { z } from "@hono/zod-openapi";

export const ErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
}).openapi("Error");

export const UserSchema = z.object({ id: z.uuid(), username: z.string() }).openapi("User");

export const TokenSchema = z.object({
  access_token: z.string(),
  token_type: z.literal("bearer"),
  expires_in: z.number().int(),
}).openapi("Token");

const sourceBase = {
  id: z.uuid(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  /** Whether a token is stored (Git); the token itself is never returned. */
  has_token: z.boolean(),
  /** When an indexing run last listed the source; null before the first. */
  listed_at: z.string().nullable(),
  created_at: z.string(),
};

export const SourceSchema = z.discriminatedUnion("type", [
  z.object({ ...sourceBase, type: z.literal("directory"), path: z.string() }),
  z.object({
    ...sourceBase,
    type: z.literal("git"),
    url: z.string(),
    ref: z.string().nullable(),
    resolved_ref: z.string().nullable(),
    /** The commit the last indexing run listed. */
    revision: z.string().nullable(),
  }),
  z.object({
    ...sourceBase,
    type: z.literal("web"),
    url: z.string(),
    max_pages: z.number().int(),
    max_depth: z.number().int(),
  }),
]).openapi("Source");

export const CollectionSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  status: z.enum(["pending", "ready", "processing", "error", "deleting"]),
  embedding_model: z.string(),
  /** The precision the vectors were made with (queries use it too); null before indexing. */
  embedding_precision: z.enum(["fp32", "fp16", "int8"]).nullable(),
  vector_dim: z.number().int(),
  chunk_size: z.number().int(),
  chunk_overlap: z.number().int(),
  sync_mode: z.enum(["one_time", "continuous"]),
  sync_interval_minutes: z.number().int(),
  /** Continuous sync skips the collection while true (manual syncs still run). */
  sync_paused: z.boolean(),
  document_count: z.number().int(),
  chunk_count: z.number().int(),
  vector_count: z.number().int(),
  sources: z.array(SourceSchema),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi("Collection");

export const OperationSchema = z.object({
  id: z.uuid(),
  collection_id: z.uuid(),
  type: z.enum(["index", "append", "remove_source", "sync", "reindex", "delete"]),
  status: z.enum(["pending", "processing", "completed", "failed", "cancelled"]),
  progress: z.number().int().min(0).max(100),
  message: z.string(),
  error_message: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
}).openapi("Operation");

export const DocumentSchema = z.object({
  id: z.uuid(),
  source_id: z.uuid().nullable(),
  uri: z.string(),
  content_hash: z.string().nullable(),
  size_bytes: z.number().int(),
  mime_type: z.string().nullable(),
  status: z.enum(["pending", "completed", "failed", "skipped", "deleted"]),
  chunk_count: z.number().int(),
  error: z.string().nullable(),
  updated_at: z.string(),
}).openapi("Document");

export const SearchResultSchema = z.object({
  collection_id: z.uuid(),
  document_id: z.uuid(),
  uri: z.string(),
  chunk_index: z.number().int(),
  score: z.number().describe("The value results are ordered by"),
  scores: z.object({
    dense: z.number().nullable().describe("Cosine similarity; null when dense did not return it"),
    lexical: z.number().nullable().describe(
      "Lexical relevance; null when lexical did not return it",
    ),
    fused: z.number().nullable().describe("Reciprocal rank fusion value; null when not fused"),
    rerank: z.number().nullable().describe(
      "The cross-encoder's logit (rerank: true); null when not reranked",
    ),
  }),
  text: z.string(),
  page: z.number().int().nullable().describe("The PDF page of the chunk, else null"),
  highlights: z.array(z.tuple([z.number().int(), z.number().int()])).describe(
    "[start, end) character spans of the query's terms in text",
  ),
  embedding_model: z.string(),
}).openapi("SearchResult");

export const DeadLetterSchema = z.object({
  id: z.string(),
  task: z.string(),
  queue: z.string(),
  operation_id: z.string().nullable(),
  attempts: z.number().int(),
  error: z.string(),
  failed_at: z.string(),
}).openapi("DeadLetter");

export const IdParam = z.object({ id: z.uuid() });

export const limitParam = (max: number, def: number) =>
  z.coerce.number().int().min(1).max(max).default(def);

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, json(ErrorSchema, `Error (${s})`)]));

export const SyncRunSchema = z.object({
  operation_id: z.uuid(),
  trigger: z.enum(["schedule", "user"]),
  status: z.enum(["pending", "processing", "completed", "failed", "cancelled"]),
  added: z.number().int().nullable(),
  modified: z.number().int().nullable(),
  deleted: z.number().int().nullable(),
  failed: z.number().int().nullable(),
  duration_seconds: z.number().nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  created_at: z.string(),
}).openapi("SyncRun");
