import { createRoute, z } from "@hono/zod-openapi";
import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { previewSource, previewSourceBody } from "../sources/preview_source.ts";
import { errorResponses, json } from "../schemas.ts";

const secured = { security: [{ bearer: [] }], tags: ["sources"] };

const SourcePreviewSchema = z.object({
  files: z.number().int(),
  bytes: z.number().int(),
  by_extension: z.record(
    z.string(),
    z.object({ files: z.number().int(), bytes: z.number().int() }),
  ),
  skipped: z.array(z.object({ uri: z.string(), reason: z.string() })),
}).openapi("SourcePreview");

export function registerSourceRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v2/sources/preview",
      ...secured,
      request: {
        body: { content: { "application/json": { schema: previewSourceBody } }, required: true },
      },
      responses: {
        200: json(SourcePreviewSchema, "What indexing the source would take in (nothing indexed)"),
        ...errorResponses(400, 401, 422),
      },
    }),
    async (c) =>
      c.json(
        await previewSource(
          {
            documentRoots: s.collections.documentRoots,
            maxFileSizeBytes: s.collections.maxFileSizeBytes ?? 50 * 1024 * 1024,
          },
          c.req.valid("json"),
          { signal: c.req.raw.signal },
        ),
        200,
      ),
  );
}
