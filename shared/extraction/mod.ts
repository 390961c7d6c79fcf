/**
 * Extraction: what a directory source holds (scanning, with DOCUMENT_ROOTS and globs) and the
 * text of each document (plain text and code, Markdown, reStructuredText, HTML, PDF, DOCX).
 * No I/O beyond stat-ing the tree and reading the file asked for.
 */
export * from "./scan_source.ts";
export * from "./resolve_source_path.ts";
export * from "./resolve_document_roots.ts";
export * from "./path_filter.ts";
export * from "./extract_file.ts";
export * from "./extract_bytes.ts";
export * from "./extraction_error.ts";
export * from "./hash_file.ts";
export * from "./open_document.ts";
export * from "./stream_text_file.ts";
export * from "./extract_pdf.ts";
export * from "./extract_docx.ts";
export * from "./html_to_text.ts";
export * from "./decode_text.ts";
export * from "./declared_charset.ts";
export * from "./looks_binary.ts";
export * from "./sanitize_text.ts";
export * from "./sniff_format.ts";
export * from "./mime_type_for_path.ts";
