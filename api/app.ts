/**
 * The HTTP application: routes validate, call one domain function, shape the response. One error
 * handler turns every error into API.md's `{error: {code, message, details}}` body.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { AppError } from "@semantik/shared";
import type { Runtime } from "@semantik/shared";

export interface ApiEnv {
  Variables: {
    requestId: string;
  };
}

/** Builds the app over a runtime; no listening socket (tests call `app.request()`). */
export function createApp(rt: Runtime): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>();

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.notFound((c) =>
    c.json(
      { error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } },
      404,
    )
  );
  app.onError((err, c) => {
    if (err instanceof AppError) {
      return c.json(
        { error: { code: err.code, message: err.message, details: err.details } },
        err.status as 400,
      );
    }
    if (err instanceof HTTPException) {
      return c.json({ error: { code: "invalid_request", message: err.message } }, err.status);
    }
    rt.log.error("unhandled error", { err, path: c.req.path });
    return c.json({ error: { code: "internal", message: "Internal server error" } }, 500);
  });
  return app;
}
