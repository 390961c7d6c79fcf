import { createRoute, z } from "@hono/zod-openapi";
import { getOwnedOperation, listOperations, toOperationJson } from "@semantik/shared";
import type { ApiApp } from "../api_env.ts";
import {
  bulkCancelBody,
  operationFilterQuery,
  timeOrder,
  timeOrderError,
  toOperationFilter,
} from "../operations/operation_filters.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, IdParam, json, limitParam, OperationSchema } from "../schemas.ts";

const secured = { security: [{ bearer: [] }], tags: ["operations"] };

export function registerOperationRoutes(app: ApiApp, s: ApiServices): void {
  const db = s.rt.db;

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/operations",
      ...secured,
      request: {
        query: operationFilterQuery.extend({
          limit: limitParam(100, 20),
          cursor: z.string().max(512).optional(),
        }).refine(timeOrder, timeOrderError),
      },
      responses: {
        200: json(
          z.object({ operations: z.array(OperationSchema), next_cursor: z.string().nullable() }),
          "The caller's operations, newest first",
        ),
        ...errorResponses(400, 401),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listOperations(db, {
        ownerId: c.get("user").id,
        ...toOperationFilter(q),
        limit: q.limit,
        cursor: q.cursor,
      });
      return c.json(
        { operations: page.items.map(toOperationJson), next_cursor: page.nextCursor },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/operations/cancel",
      ...secured,
      request: {
        body: { content: { "application/json": { schema: bulkCancelBody } }, required: false },
      },
      responses: {
        200: json(
          z.object({ cancelled: z.number().int() }),
          "How many of the caller's active operations matching the filters were cancelled",
        ),
        ...errorResponses(400, 401),
      },
    }),
    async (c) => {
      const body = c.req.header("content-length") === "0" ? {} : c.req.valid("json") ?? {};
      return c.json(
        await s.operations.cancelMatching(c.get("user").id, toOperationFilter(body)),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/operations/{id}",
      ...secured,
      request: { params: IdParam },
      responses: {
        200: json(OperationSchema, "The operation"),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) =>
      c.json(
        toOperationJson(
          await getOwnedOperation(db, {
            userId: c.get("user").id,
            operationId: c.req.valid("param").id,
          }),
        ),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v2/operations/{id}",
      ...secured,
      request: { params: IdParam },
      responses: {
        202: json(OperationSchema, "Cancellation requested (or done, for a pending operation)"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) => c.json(await s.operations.cancel(c.get("user").id, c.req.valid("param").id), 202),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/operations/{id}/retry",
      ...secured,
      request: { params: IdParam },
      responses: {
        202: json(
          z.object({ operation: OperationSchema }),
          "A new operation with the same type and config",
        ),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) =>
      c.json(
        { operation: await s.operations.retry(c.get("user").id, c.req.valid("param").id) },
        202,
      ),
  );
}
