/** The collection routes' request bodies, validated at the edge (docs/API.md "Collections"). */
import { z } from "zod";
import { type SourceConfig, sourceConfigSchema } from "../sources/source_schemas.ts";

/** A source: a directory, a Git repository or a web site (`shared/sources/source_schemas.ts`). */
export const sourceSchema = sourceConfigSchema;
export type SourceInput = SourceConfig;

const hasControlChar = (s: string) => [...s].some((ch) => ch.charCodeAt(0) < 0x20);
const name = z.string().trim().min(1).max(128).refine((s) => !hasControlChar(s), {
  message: "must not contain control characters",
});
const chunkSize = z.number().int().min(16).max(8192);
const chunkOverlap = z.number().int().min(0).max(8191);

export const createCollectionSchema = z.strictObject({
  name,
  description: z.string().max(2000).optional(),
  embedding_model: z.string().min(1).max(256).optional(),
  chunk_size: chunkSize.optional(),
  chunk_overlap: chunkOverlap.optional(),
  sync_mode: z.enum(["one_time", "continuous"]).optional(),
  sync_interval_minutes: z.number().int().min(1).max(525600).optional(),
  source: sourceSchema.optional(),
});
export type CreateCollectionInput = z.infer<typeof createCollectionSchema>;

export const updateCollectionSchema = z.strictObject({
  name: name.optional(),
  description: z.string().max(2000).optional(),
  sync_mode: z.enum(["one_time", "continuous"]).optional(),
  sync_interval_minutes: z.number().int().min(1).max(525600).optional(),
});
export type UpdateCollectionInput = z.infer<typeof updateCollectionSchema>;

export const reindexSchema = z.strictObject({
  embedding_model: z.string().min(1).max(256).optional(),
  /** The precision of the new vectors; unset: the collection's own (the model's default). */
  embedding_precision: z.enum(["fp32", "fp16", "int8"]).optional(),
  chunk_size: chunkSize.optional(),
  chunk_overlap: chunkOverlap.optional(),
  /**
   * Only write the lexical index of the existing points from their chunk text (the lexical
   * backfill), without re-embedding; no other field may be given with it.
   */
  lexical_only: z.boolean().optional(),
}).refine(
  (r) =>
    r.lexical_only !== true ||
    (r.embedding_model === undefined && r.embedding_precision === undefined &&
      r.chunk_size === undefined && r.chunk_overlap === undefined),
  {
    message: "lexical_only keeps the collection's settings: give no other field with it",
    path: ["lexical_only"],
  },
);
export type ReindexInput = z.infer<typeof reindexSchema>;

export const DEFAULT_CHUNK_SIZE = 200;
export const DEFAULT_CHUNK_OVERLAP = 40;
export const DEFAULT_SYNC_INTERVAL_MINUTES = 60;
