/**
 * The MCP tools (issue 24), one definition for both transports: `/mcp` on the API (Streamable
 * HTTP, over the API's own domain functions: {@link localBackend}) and `deno task mcp` (stdio,
 * over the REST API: {@link restBackend}). A tool validates its input with zod, asks the backend,
 * and answers with a readable text (each result names its document URI and chunk position, to be
 * cited) and the same data as `structuredContent`. Every tool only reads: a `read` API key can
 * use them all.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { AppError, type OperationJson } from "@semantik/shared";
import type {
  ChunkJson,
  CollectionJson,
  DocumentWithTextJson,
} from "../collections/collections.ts";
import { SEARCH_MODES, type SearchResult } from "../search/search.ts";

/** Collections `list_collections` returns at most (the REST list's largest page). */
export const MCP_MAX_COLLECTIONS = 100;

/** What the tools read; the API's domain functions or its REST routes. */
export interface McpBackend {
  search(input: SearchToolInput): Promise<{ mode: string; results: SearchResult[] }>;
  listCollections(): Promise<CollectionJson[]>;
  getDocument(input: GetDocumentInput): Promise<DocumentWithTextJson>;
  getChunk(input: GetChunkInput): Promise<ChunkJson>;
  /** The collection and its most recent operations, newest first. */
  collectionStatus(
    collectionId: string,
    operations: number,
  ): Promise<{ collection: CollectionJson; operations: OperationJson[] }>;
}

export const searchToolInput = {
  query: z.string().min(1).max(1000).describe("What to look for, in natural language or terms"),
  collection_ids: z.array(z.uuid()).min(1).max(100).optional().describe(
    "Collections to search; all of the caller's when absent",
  ),
  k: z.int().min(1).max(100).optional().describe("How many chunks to return (default 10)"),
  mode: z.enum(SEARCH_MODES).optional().describe(
    "hybrid (default): dense and lexical fused; dense: by meaning; lexical: by terms",
  ),
};
export type SearchToolInput = z.infer<z.ZodObject<typeof searchToolInput>>;

export const getDocumentInput = {
  collection_id: z.uuid(),
  document_id: z.uuid(),
  max_chars: z.int().min(1).max(1_000_000).optional().describe(
    "Longest text to return (default 50000)",
  ),
};
export type GetDocumentInput = z.infer<z.ZodObject<typeof getDocumentInput>>;

export const getChunkInput = {
  collection_id: z.uuid(),
  document_id: z.uuid(),
  chunk_index: z.int().min(0).max(2 ** 31 - 1).describe("The chunk's position in the document"),
};
export type GetChunkInput = z.infer<z.ZodObject<typeof getChunkInput>>;

export const collectionStatusInput = {
  collection_id: z.uuid(),
  operations: z.int().min(1).max(50).optional().describe("Recent operations to list (default 5)"),
};
export type CollectionStatusInput = z.infer<z.ZodObject<typeof collectionStatusInput>>;

/** Where a result is: enough to cite it and to fetch the chunk again. */
function citation(r: { uri: string; chunk_index: number; page: number | null }): string {
  return `${r.uri}#chunk=${r.chunk_index}${r.page === null ? "" : ` (page ${r.page})`}`;
}

function answer(text: string, data: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: data };
}

/** A failure the caller can act on (its code and message); anything else stays generic. */
function failure(err: unknown, onInternal?: (err: unknown) => void): CallToolResult {
  const text = err instanceof AppError
    ? `${err.code}: ${err.message}`
    : err instanceof McpBackendError
    ? err.message
    : (onInternal?.(err), "internal: the tool failed; try again");
  return { isError: true, content: [{ type: "text", text }] };
}

/** An error answer of the REST API, as the stdio backend got it. */
export class McpBackendError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "McpBackendError";
  }
}

/** Registers the tools on `server`; `onInternal` sees unexpected errors (to log them). */
export function registerTools(
  server: McpServer,
  backend: McpBackend,
  { onInternal }: { onInternal?: (err: unknown) => void } = {},
): void {
  const run = async (fn: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    try {
      return await fn();
    } catch (err) {
      return failure(err, onInternal);
    }
  };

  server.registerTool("search", {
    title: "Search",
    description: "Searches the user's indexed collections and returns the best matching chunks, " +
      "each with its document URI and chunk position to cite.",
    inputSchema: searchToolInput,
    annotations: { readOnlyHint: true },
  }, (input: SearchToolInput) =>
    run(async () => {
      const { mode, results } = await backend.search(input);
      const lines = results.map((r, i) =>
        `[${i + 1}] ${citation(r)} score=${r.score.toPrecision(4)}\n` +
        `    collection_id=${r.collection_id} document_id=${r.document_id}\n${r.text}`
      );
      return answer(
        results.length === 0
          ? `No results for "${input.query}".`
          : `${results.length} results (${mode}):\n\n${lines.join("\n\n")}`,
        {
          mode,
          results: results.map((r) => ({
            collection_id: r.collection_id,
            document_id: r.document_id,
            uri: r.uri,
            chunk_index: r.chunk_index,
            page: r.page,
            score: r.score,
            text: r.text,
          })),
        },
      );
    }));

  server.registerTool("list_collections", {
    title: "List collections",
    description: "Lists the user's collections with their status and counts.",
    annotations: { readOnlyHint: true },
  }, () =>
    run(async () => {
      const collections = (await backend.listCollections()).map(summary);
      return answer(
        collections.length === 0
          ? "No collections."
          : collections.map((c) =>
            `${c.name} (id ${c.id}): ${c.status}, ${c.document_count} documents, ${c.chunk_count} chunks`
          ).join("\n"),
        { collections },
      );
    }));

  server.registerTool("get_document", {
    title: "Get document",
    description: "Returns a document's indexed text and metadata (uri, type, size, status).",
    inputSchema: getDocumentInput,
    annotations: { readOnlyHint: true },
  }, (input: GetDocumentInput) =>
    run(async () => {
      const doc = await backend.getDocument(input);
      return answer(
        `${doc.uri} (${doc.mime_type ?? "unknown type"}, ${doc.size_bytes} bytes, ` +
          `${doc.chunk_count} chunks, ${doc.status})${
            doc.truncated ? " [truncated]" : ""
          }\n\n${doc.text}`,
        { ...doc },
      );
    }));

  server.registerTool("get_chunk", {
    title: "Get chunk",
    description:
      "Returns one chunk of a document by its position (chunk_index of a search result).",
    inputSchema: getChunkInput,
    annotations: { readOnlyHint: true },
  }, (input: GetChunkInput) =>
    run(async () => {
      const chunk = await backend.getChunk(input);
      return answer(
        `${citation(chunk)} (chunk ${
          chunk.chunk_index + 1
        } of ${chunk.chunk_count})\n\n${chunk.text}`,
        { ...chunk },
      );
    }));

  server.registerTool("collection_status", {
    title: "Collection status",
    description: "Returns a collection's status, counts and most recent operations.",
    inputSchema: collectionStatusInput,
    annotations: { readOnlyHint: true },
  }, (input: CollectionStatusInput) =>
    run(async () => {
      const { collection, operations } = await backend.collectionStatus(
        input.collection_id,
        input.operations ?? 5,
      );
      const c = summary(collection);
      const ops = operations.map((o) => ({
        id: o.id,
        type: o.type,
        status: o.status,
        progress: o.progress,
        message: o.message,
        error_message: o.error_message,
        created_at: o.created_at,
        completed_at: o.completed_at,
      }));
      return answer(
        `${c.name} (id ${c.id}): ${c.status}, ${c.document_count} documents, ` +
          `${c.chunk_count} chunks, ${c.vector_count} vectors\nRecent operations:\n` +
          (ops.length === 0
            ? "none"
            : ops.map((o) =>
              `- ${o.type} ${o.status} ${o.progress}% ${o.message}${
                o.error_message ? ` (${o.error_message})` : ""
              } [${o.created_at}]`
            ).join("\n")),
        { collection: c, operations: ops },
      );
    }));
}

function summary(c: CollectionJson) {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    status: c.status,
    embedding_model: c.embedding_model,
    document_count: c.document_count,
    chunk_count: c.chunk_count,
    vector_count: c.vector_count,
    updated_at: c.updated_at,
  };
}
