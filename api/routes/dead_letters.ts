import { createRoute, z } from "@hono/zod-openapi";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { DeadLetterSchema, errorResponses, json, limitParam } from "../schemas.ts";

const secured = { security: [{ bearer: [] }], tags: ["dead letters"] };

export function registerDeadLetterRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/dead-letters",
      ...secured,
      request: { query: z.object({ limit: limitParam(500, 50) }) },
      responses: {
        200: json(
          z.object({ jobs: z.array(DeadLetterSchema) }),
          "Jobs of the caller's operations that failed for good",
        ),
        ...errorResponses(400, 401),
      },
    }),
    async (c) =>
      c.json({ jobs: await s.deadLetters.list(c.get("user").id, c.req.valid("query").limit) }, 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/dead-letters/{id}/requeue",
      ...secured,
      request: { params: z.object({ id: z.string().min(1).max(200) }) },
      responses: {
        202: json(z.object({ requeued: z.literal(true) }), "Back in its queue"),
        ...errorResponses(400, 401, 403, 404, 409),
      },
    }),
    async (c) => {
      await s.deadLetters.requeue(c.get("user").id, c.req.valid("param").id);
      return c.json({ requeued: true as const }, 202);
    },
  );
}
