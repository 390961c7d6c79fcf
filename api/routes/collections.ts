import { createRoute, z } from "@hono/zod-openapi";
import {
  addSource,
  createCollection,
  createCollectionSchema,
  deleteCollection,
  getCollection,
  getOwnedCollection,
  listCollections,
  listDocuments,
  listOperations,
  reindexCollection,
  reindexSchema,
  removeSource,
  sourceSchema,
  syncCollection,
  toOperationJson,
  updateCollection,
  updateCollectionSchema,
} from "@semantik/shared";
import type { ApiApp } from "../app.ts";
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
    async (c) => c.json(await createCollection(deps, c.get("user").id, c.req.valid("json")), 201),
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
    async (c) => c.json(await listCollections(deps, c.get("user").id, c.req.valid("query")), 200),
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
    async (c) => c.json(await getCollection(deps, c.get("user").id, c.req.valid("param").id), 200),
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
        await updateCollection(
          deps,
          c.get("user").id,
          c.req.valid("param").id,
          c.req.valid("json"),
        ),
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
        { operation: await deleteCollection(deps, c.get("user").id, c.req.valid("param").id) },
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
        await addSource(deps, c.get("user").id, c.req.valid("param").id, c.req.valid("json")),
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
      return c.json({ operation: await removeSource(deps, c.get("user").id, id, source_id) }, 202);
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
        { operation: await syncCollection(deps, c.get("user").id, c.req.valid("param").id) },
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
        operation: await reindexCollection(deps, c.get("user").id, c.req.valid("param").id, input),
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
        await listDocuments(deps, c.get("user").id, c.req.valid("param").id, c.req.valid("query")),
        200,
      ),
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
      await getOwnedCollection(deps.db, user, id);
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
}
