import { createRoute, z } from "@hono/zod-openapi";
import { WEBHOOK_EVENTS } from "@semantik/shared";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, IdParam, json, limitParam } from "../schemas.ts";
import { createWebhookSchema } from "../webhooks/webhooks.ts";

const secured = { security: [{ bearer: [] }], tags: ["webhooks"] };

const WebhookSchema = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  created_at: z.string(),
}).openapi("Webhook");

const WebhookDeliverySchema = z.object({
  id: z.uuid(),
  webhook_id: z.uuid(),
  operation_id: z.uuid(),
  event: z.enum(WEBHOOK_EVENTS),
  status: z.enum(["pending", "succeeded", "failed"]),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  response_status: z.number().int().nullable(),
  created_at: z.string(),
  last_attempt_at: z.string().nullable(),
  completed_at: z.string().nullable(),
}).openapi("WebhookDelivery");

export function registerWebhookRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/webhooks",
      ...secured,
      request: {
        body: { content: { "application/json": { schema: createWebhookSchema } }, required: true },
      },
      responses: {
        201: json(
          WebhookSchema.extend({ secret: z.string() }),
          "Created; the signing secret is in this answer only",
        ),
        ...errorResponses(400, 401, 413, 422),
      },
    }),
    async (c) => c.json(await s.webhooks.create(c.get("user").id, c.req.valid("json")), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/webhooks",
      ...secured,
      responses: {
        200: json(z.object({ webhooks: z.array(WebhookSchema) }), "The caller's webhooks"),
        ...errorResponses(401),
      },
    }),
    async (c) => c.json({ webhooks: await s.webhooks.list(c.get("user").id) }, 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v2/webhooks/{id}",
      ...secured,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      await s.webhooks.remove(c.get("user").id, c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/webhooks/{id}/deliveries",
      ...secured,
      request: { params: IdParam, query: z.object({ limit: limitParam(200, 50) }) },
      responses: {
        200: json(
          z.object({ deliveries: z.array(WebhookDeliverySchema) }),
          "The webhook's most recent deliveries, newest first",
        ),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) =>
      c.json({
        deliveries: await s.webhooks.deliveries(c.get("user").id, {
          webhookId: c.req.valid("param").id,
          limit: c.req.valid("query").limit,
        }),
      }, 200),
  );
}
