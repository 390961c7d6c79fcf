/** The MCP tools over the API's own domain functions, for one authenticated user (`/mcp`). */
import { listOperations, toOperationJson } from "@semantik/shared";
import {
  getChunk,
  getCollection,
  getDocumentText,
  listCollections,
} from "../collections/collections.ts";
import { searchRequestSchema } from "../search/search.ts";
import type { ApiServices } from "../services.ts";
import { MCP_MAX_COLLECTIONS, type McpBackend } from "./tools.ts";

export function localBackend(s: ApiServices, userId: string): McpBackend {
  const deps = s.collections;
  return {
    async search(input) {
      // The API's own schema fills the defaults (k, mode, rrf_k) as the REST route does.
      const { mode, results } = await s.search(userId, searchRequestSchema.parse(input));
      return { mode, results };
    },
    async listCollections() {
      return (await listCollections(deps, { userId, limit: MCP_MAX_COLLECTIONS })).collections;
    },
    getDocument: (input) =>
      getDocumentText(deps, {
        userId,
        collectionId: input.collection_id,
        documentId: input.document_id,
        maxChars: input.max_chars,
      }),
    getChunk: (input) =>
      getChunk(deps, {
        userId,
        collectionId: input.collection_id,
        documentId: input.document_id,
        chunkIndex: input.chunk_index,
      }),
    async collectionStatus(collectionId, operations) {
      const collection = await getCollection(deps, { userId, collectionId });
      const page = await listOperations(deps.db, {
        ownerId: userId,
        collectionId,
        limit: operations,
      });
      return { collection, operations: page.items.map(toOperationJson) };
    },
  };
}
