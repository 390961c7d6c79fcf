/**
 * Chunking: a document's text cut into chunks of at most `chunkSize` tokens of the collection's
 * model, with overlap, keeping headings with their sections and PDF pages apart.
 */
export * from "./chunk_document.ts";
