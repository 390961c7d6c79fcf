/** API keys (issue 24): create, list, revoke (docs/API.md "API keys"). */
import { createRoute, z } from "@hono/zod-openapi";
import {
  API_KEY_SCOPES,
  createApiKey,
  createApiKeySchema,
  deleteApiKey,
  listApiKeys,
} from "../auth/api_keys.ts";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, IdParam, json } from "../schemas.ts";

const secured = { security: [{ bearer: [] }], tags: ["api keys"] };

const ApiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  prefix: z.string().describe("The key's first characters, to recognise it; not a secret"),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable().describe("Updated at most once a minute"),
}).openapi("ApiKey");

export function registerApiKeyRoutes(app: ApiApp, s: ApiServices): void {
  const db = s.rt.db;
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/api-keys",
      ...secured,
      request: {
        body: { content: { "application/json": { schema: createApiKeySchema } }, required: true },
      },
      responses: {
        201: json(
          ApiKeySchema.extend({
            key: z.string().describe("The secret: shown only in this answer"),
          }),
          "The new key",
        ),
        ...errorResponses(400, 401, 403),
      },
    }),
    async (c) =>
      c.json(await createApiKey(db, { userId: c.get("user").id, input: c.req.valid("json") }), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/api-keys",
      ...secured,
      responses: {
        200: json(z.object({ api_keys: z.array(ApiKeySchema) }), "The caller's keys, newest first"),
        ...errorResponses(401),
      },
    }),
    async (c) => c.json({ api_keys: await listApiKeys(db, c.get("user").id) }, 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v2/api-keys/{id}",
      ...secured,
      request: { params: IdParam },
      responses: {
        204: { description: "Revoked: refused from the next request on" },
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      await deleteApiKey(db, { userId: c.get("user").id, keyId: c.req.valid("param").id });
      return c.body(null, 204);
    },
  );
}
