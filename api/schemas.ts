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

export const SourceSchema = z.object({
  id: z.uuid(),
  type: z.literal("directory"),
  path: z.string(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
}).openapi("Source");

export const CollectionSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  status: z.enum(["pending", "ready", "processing", "error", "deleting"]),
  embedding_model: z.string(),
  vector_dim: z.number().int(),
  chunk_size: z.number().int(),
  chunk_overlap: z.number().int(),
  sync_mode: z.enum(["one_time", "continuous"]),
  sync_interval_minutes: z.number().int(),
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
  score: z.number(),
  text: z.string(),
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
