/**
 * Sources of documents: a directory, a Git repository, a web site, each behind one interface
 * (`DocumentSource`: list entries with change tokens, open an entry's bytes), with their config
 * schemas, the encryption of the secrets they carry, and the checks on where they may point.
 */
export * from "./document_source.ts";
export * from "./source_error.ts";
export * from "./source_schemas.ts";
export * from "./source_state_dir.ts";
export * from "./extract_entry.ts";
export * from "./directory_source.ts";
export * from "./git_source.ts";
export * from "./git_url.ts";
export * from "./web_source.ts";
export { FetchError, type FetchErrorCode } from "./web_fetcher.ts";
export * from "./host_pacer.ts";
export * from "./page_url.ts";
export * from "./private_address.ts";
export * from "./secret_box.ts";
