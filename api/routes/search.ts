import { createRoute, z } from "@hono/zod-openapi";
import { searchRequestSchema } from "@semantik/shared";
import type { ApiApp } from "../app.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, json, SearchResultSchema } from "../schemas.ts";

export function registerSearchRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/search",
      tags: ["search"],
      security: [{ bearer: [] }],
      request: {
        body: { content: { "application/json": { schema: searchRequestSchema } }, required: true },
      },
      responses: {
        200: json(
          z.object({ results: z.array(SearchResultSchema), took_ms: z.number() }),
          "Chunks by cosine similarity, highest first",
        ),
        ...errorResponses(400, 401, 403, 404, 422, 503),
      },
    }),
    async (c) => {
      const start = performance.now();
      const results = await s.search(c.get("user").id, c.req.valid("json"));
      return c.json({ results, took_ms: Math.round((performance.now() - start) * 10) / 10 }, 200);
    },
  );
}
