/** `GET /api/v2/models`: the embedding models a collection can be made or reindexed with. */
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, json } from "../schemas.ts";

const ModelSchema = z.object({
  name: z.string(),
  dimension: z.number().int(),
  max_chunk_tokens: z.number().int().describe("The largest chunk_size the model accepts"),
  precisions: z.array(z.enum(["fp32", "fp16", "int8"])),
  default: z.boolean().describe("Whether this is DEFAULT_EMBEDDING_MODEL"),
});

export function registerModelRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v2/models",
      security: [{ bearer: [] }],
      tags: ["models"],
      responses: {
        200: json(z.object({ models: z.array(ModelSchema) }), "The usable embedding models"),
        ...errorResponses(401),
      },
    }),
    async (c) => {
      const fallback = s.rt.config.defaultEmbeddingModel;
      const models = (await s.rt.models.list()).map((m) => ({
        name: m.name,
        dimension: m.dimension,
        max_chunk_tokens: m.maxChunkTokens,
        precisions: m.precisions,
        default: m.name === fallback,
      }));
      return c.json({ models }, 200);
    },
  );
}
