import { createRoute, z } from "@hono/zod-openapi";
import {
  createCollectionSchema,
  listOperations,
  reindexSchema,
  sourceSchema,
  toOperationJson,
  updateCollectionSchema,
} from "@semantik/shared";
import {
  addSource,
  createCollection,
  deleteCollection,
  getChunk,
  getCollection,
  getDocumentContent,
  getDocumentText,
  getOwnedCollection,
  listCollections,
  listDocuments,
  listSyncRuns,
  reindexCollection,
  removeSource,
  retryDocument,
  retryFailedDocuments,
  setSyncPaused,
  syncCollection,
  updateCollection,
} from "../collections/collections.ts";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import {
  CollectionSchema,
  DocumentSchema,
  errorResponses,
  IdParam,
  json,
  limitParam,
  OperationSchema,
  SourceSchema,
  SyncRunSchema,
} from "../schemas.ts";

const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});
const secured = { security: [{ bearer: [] }], tags: ["collections"] };
const OpEnvelope = z.object({ operation: OperationSchema });
const pageQuery = z.object({ limit: limitParam(100, 20), cursor: z.string().max(512).optional() });

export function registerCollectionRoutes(app: ApiApp, s: ApiServices): void {
  const deps = s.collections;

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections",
      ...secured,
      request: { body: jsonBody(createCollectionSchema) },
      responses: {
        201: json(
          z.object({ collection: CollectionSchema, operation: OperationSchema.nullable() }),
          "Created (with an index operation when a source was given)",
        ),
        ...errorResponses(400, 401, 409, 413, 422),
      },
    }),
    async (c) =>
      c.json(
        await createCollection(deps, { userId: c.get("user").id, input: c.req.valid("json") }),
        201,
      ),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections",
      ...secured,
      request: { query: pageQuery },
      responses: {
        200: json(
          z.object({ collections: z.array(CollectionSchema), next_cursor: z.string().nullable() }),
          "The caller's collections, newest first",
        ),
        ...errorResponses(400, 401),
      },
    }),
    async (c) =>
      c.json(
        await listCollections(deps, { userId: c.get("user").id, ...c.req.valid("query") }),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}",
      ...secured,
      request: { params: IdParam },
      responses: {
        200: json(CollectionSchema, "The collection"),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) =>
      c.json(
        await getCollection(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
        }),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/api/v2/collections/{id}",
      ...secured,
      request: { params: IdParam, body: jsonBody(updateCollectionSchema) },
      responses: {
        200: json(CollectionSchema, "The updated collection"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) =>
      c.json(
        await updateCollection(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
          patch: c.req.valid("json"),
        }),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v2/collections/{id}",
      ...secured,
      request: { params: IdParam },
      responses: {
        202: json(OpEnvelope, "Deletion started"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) =>
      c.json(
        {
          operation: await deleteCollection(deps, {
            userId: c.get("user").id,
            collectionId: c.req.valid("param").id,
          }),
        },
        202,
      ),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections/{id}/sources",
      ...secured,
      request: { params: IdParam, body: jsonBody(sourceSchema) },
      responses: {
        202: json(z.object({ source: SourceSchema, operation: OperationSchema }), "Append started"),
        ...errorResponses(400, 401, 403, 404, 409, 422),
      },
    }),
    async (c) =>
      c.json(
        await addSource(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
          source: c.req.valid("json"),
        }),
        202,
      ),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v2/collections/{id}/sources/{source_id}",
      ...secured,
      request: { params: z.object({ id: z.uuid(), source_id: z.uuid() }) },
      responses: {
        202: json(OpEnvelope, "Removal started"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { id, source_id } = c.req.valid("param");
      return c.json({
        operation: await removeSource(deps, {
          userId: c.get("user").id,
          collectionId: id,
          sourceId: source_id,
        }),
      }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections/{id}/sync",
      ...secured,
      request: { params: IdParam },
      responses: {
        202: json(OpEnvelope, "Sync started"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) =>
      c.json(
        {
          operation: await syncCollection(deps, {
            userId: c.get("user").id,
            collectionId: c.req.valid("param").id,
          }),
        },
        202,
      ),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections/{id}/reindex",
      ...secured,
      request: {
        params: IdParam,
        body: { content: { "application/json": { schema: reindexSchema } }, required: false },
      },
      responses: {
        202: json(OpEnvelope, "Reindex started"),
        ...errorResponses(400, 401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const input = c.req.header("content-length") === "0" ? {} : c.req.valid("json") ?? {};
      return c.json({
        operation: await reindexCollection(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
          input,
        }),
      }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/documents",
      ...secured,
      request: {
        params: IdParam,
        query: pageQuery.extend({
          status: z.enum(["pending", "completed", "failed", "skipped", "deleted"]).optional(),
        }),
      },
      responses: {
        200: json(
          z.object({ documents: z.array(DocumentSchema), next_cursor: z.string().nullable() }),
          "The collection's documents",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) =>
      c.json(
        await listDocuments(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
          ...c.req.valid("query"),
        }),
        200,
      ),
  );

  const DocumentParams = IdParam.extend({ document_id: z.uuid() });
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/documents/{document_id}",
      ...secured,
      request: {
        params: DocumentParams,
        query: z.object({ max_chars: z.coerce.number().int().min(1).max(1_000_000).optional() }),
      },
      responses: {
        200: json(
          DocumentSchema.extend({
            collection_id: z.uuid(),
            text: z.string(),
            truncated: z.boolean(),
          }),
          "The document with its indexed text (rebuilt from its chunks)",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { id, document_id } = c.req.valid("param");
      return c.json(
        await getDocumentText(deps, {
          userId: c.get("user").id,
          collectionId: id,
          documentId: document_id,
          maxChars: c.req.valid("query").max_chars,
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/documents/{document_id}/chunks/{chunk_index}",
      ...secured,
      request: {
        params: DocumentParams.extend({
          chunk_index: z.coerce.number().int().min(0).max(2 ** 31 - 1),
        }),
      },
      responses: {
        200: json(
          z.object({
            collection_id: z.uuid(),
            document_id: z.uuid(),
            uri: z.string(),
            chunk_index: z.number().int(),
            text: z.string(),
            start_offset: z.number().int(),
            end_offset: z.number().int(),
            page: z.number().int().nullable(),
            chunk_count: z.number().int(),
          }),
          "One chunk of the document, by position",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { id, document_id, chunk_index } = c.req.valid("param");
      return c.json(
        await getChunk(deps, {
          userId: c.get("user").id,
          collectionId: id,
          documentId: document_id,
          chunkIndex: chunk_index,
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/operations",
      ...secured,
      request: { params: IdParam, query: pageQuery },
      responses: {
        200: json(
          z.object({ operations: z.array(OperationSchema), next_cursor: z.string().nullable() }),
          "The collection's operations, newest first",
        ),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const user = c.get("user").id;
      const { id } = c.req.valid("param");
      await getOwnedCollection(deps.db, { userId: user, collectionId: id });
      const page = await listOperations(deps.db, {
        ownerId: user,
        collectionId: id,
        ...c.req.valid("query"),
      });
      return c.json(
        { operations: page.items.map(toOperationJson), next_cursor: page.nextCursor },
        200,
      );
    },
  );

  for (const action of ["pause", "resume"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/api/v2/collections/{id}/sync/${action}`,
        ...secured,
        request: { params: IdParam },
        responses: {
          200: json(
            CollectionSchema,
            action === "pause"
              ? "Continuous sync paused (manual syncs still run)"
              : "Continuous sync resumed",
          ),
          ...errorResponses(400, 401, 404, 409),
        },
      }),
      async (c) =>
        c.json(
          await setSyncPaused(deps, c.get("user").id, {
            collectionId: c.req.valid("param").id,
            paused: action === "pause",
          }),
          200,
        ),
    );
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/sync/runs",
      ...secured,
      request: { params: IdParam, query: pageQuery },
      responses: {
        200: json(
          z.object({ runs: z.array(SyncRunSchema), next_cursor: z.string().nullable() }),
          "The collection's sync runs, newest first",
        ),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) =>
      c.json(
        await listSyncRuns(deps, c.get("user").id, {
          collectionId: c.req.valid("param").id,
          ...c.req.valid("query"),
        }),
        200,
      ),
  );

  const DocParams = z.object({ id: z.uuid(), document_id: z.uuid() });

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections/{id}/documents/retry-failed",
      ...secured,
      request: { params: IdParam },
      responses: {
        202: json(OpEnvelope, "An index operation re-indexing every failed document"),
        ...errorResponses(400, 401, 404, 409),
      },
    }),
    async (c) =>
      c.json({
        operation: await retryFailedDocuments(deps, {
          userId: c.get("user").id,
          collectionId: c.req.valid("param").id,
        }),
      }, 202),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/collections/{id}/documents/{document_id}/retry",
      ...secured,
      request: { params: DocParams },
      responses: {
        202: json(OpEnvelope, "An index operation re-indexing the document"),
        ...errorResponses(400, 401, 404, 409),
      },
    }),
    async (c) => {
      const { id, document_id } = c.req.valid("param");
      return c.json({
        operation: await retryDocument(deps, c.get("user").id, {
          collectionId: id,
          documentId: document_id,
        }),
      }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/collections/{id}/documents/{document_id}/content",
      ...secured,
      request: { params: DocParams },
      responses: {
        200: json(
          z.object({
            document: DocumentSchema,
            text: z.string(),
            text_source: z.enum(["extracted", "chunks"]),
            chunks: z.array(z.object({
              index: z.number().int(),
              start: z.number().int(),
              end: z.number().int(),
              page: z.number().int().nullable(),
            })),
          }),
          "The document's text as indexed, with each chunk's offsets into it",
        ),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { id, document_id } = c.req.valid("param");
      return c.json(
        await getDocumentContent(deps, c.get("user").id, {
          collectionId: id,
          documentId: document_id,
        }),
        200,
      );
    },
  );
}
