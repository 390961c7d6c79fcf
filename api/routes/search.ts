import { createRoute, z } from "@hono/zod-openapi";
import { SEARCH_MODES, searchRequestSchema } from "../search/search.ts";
import type { ApiApp } from "../api_env.ts";
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
          z.object({
            mode: z.enum(SEARCH_MODES),
            results: z.array(SearchResultSchema),
            lexical_pending: z.array(z.uuid()),
            took_ms: z.number(),
          }),
          "Chunks by score, highest first (fused by reciprocal rank in hybrid mode)",
        ),
        ...errorResponses(400, 401, 403, 404, 409, 422, 503),
      },
    }),
    async (c) => {
      const start = performance.now();
      const { mode, results, lexical_pending } = await s.search(
        c.get("user").id,
        c.req.valid("json"),
      );
      return c.json(
        {
          mode,
          results,
          lexical_pending,
          took_ms: Math.round((performance.now() - start) * 10) / 10,
        },
        200,
      );
    },
  );
}
