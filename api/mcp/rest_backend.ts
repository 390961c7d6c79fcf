/**
 * The MCP tools over the REST API (`deno task mcp`): each tool is one or two calls of
 * docs/API.md's routes with the API key as bearer credential. An error answer becomes the tool's
 * error text (`code: message`).
 */
import { MCP_MAX_COLLECTIONS, type McpBackend, McpBackendError } from "./tools.ts";

/** Options of {@link restBackend}. */
export interface RestBackendOptions {
  /** The API's base URL, e.g. `http://localhost:8000`. */
  url: string;
  /** An API key (or login token). */
  apiKey: string;
  /** @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

export function restBackend(options: RestBackendOptions): McpBackend {
  const base = options.url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  // deno-lint-ignore no-explicit-any -- answers are the API's documented JSON shapes
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await doFetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${options.apiKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } })?.error;
      throw new McpBackendError(
        res.status,
        err?.code ?? "http_error",
        err?.message ?? `${method} ${path} answered ${res.status}`,
      );
    }
    return parsed;
  };
  const enc = encodeURIComponent;
  return {
    search: (input) => call("POST", "/api/v2/search", input),
    async listCollections() {
      return (await call("GET", `/api/v2/collections?limit=${MCP_MAX_COLLECTIONS}`)).collections;
    },
    getDocument: (input) =>
      call(
        "GET",
        `/api/v2/collections/${enc(input.collection_id)}/documents/${enc(input.document_id)}` +
          (input.max_chars === undefined ? "" : `?max_chars=${input.max_chars}`),
      ),
    getChunk: (input) =>
      call(
        "GET",
        `/api/v2/collections/${enc(input.collection_id)}/documents/${enc(input.document_id)}` +
          `/chunks/${input.chunk_index}`,
      ),
    async collectionStatus(collectionId, operations) {
      const id = enc(collectionId);
      const [collection, ops] = await Promise.all([
        call("GET", `/api/v2/collections/${id}`),
        call("GET", `/api/v2/collections/${id}/operations?limit=${operations}`),
      ]);
      return { collection, operations: ops.operations };
    },
  };
}
