/** Vector stores: the interface, the Qdrant and pgvector implementations, point ids. */
export * from "./vector_store.ts";
export * from "./errors.ts";
export * from "./point_id.ts";
export * from "./collection_name.ts";
export { matchesUriPrefix, normalizeUriPrefix } from "./uri_prefix.ts";
export { MAX_SEARCH_K } from "./vector_input.ts";
export * from "./qdrant_store.ts";
export * from "./pgvector_store.ts";
export * from "./create_vector_store.ts";
export * from "./fusion.ts";
export * from "./lexical.ts";
