/**
 * Indexing: the document pipeline (scan -> extract -> chunk -> embed -> upsert -> record), the
 * planning of index and sync runs, deletion of collections and sources, and blue/green reindex.
 * The worker's handlers are thin wrappers over these functions.
 */
export * from "./ids.ts";
export * from "./stored_documents.ts";
export * from "./plan_indexing.ts";
export * from "./document_outcome.ts";
export * from "./index_sink.ts";
export * from "./live_index_sink.ts";
export * from "./staged_index_sink.ts";
export * from "./indexing_pipeline.ts";
export * from "./indexed_collection.ts";
export * from "./vector_target.ts";
export * from "./index_sources.ts";
export * from "./delete_collection_data.ts";
export * from "./remove_source_data.ts";
export * from "./reindex_collection_data.ts";
export * from "./sync_collection_data.ts";
export * from "./open_source.ts";
export * from "./lexical_backfill.ts";
