/**
 * The HTTP application: routes validate, call one domain function, shape the response. One error
 * handler turns every error into docs/API.md's `{error: {code, message, details}}` body.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { AppError, dbErrorInfo } from "@semantik/shared";
import type { ApiServices } from "./services.ts";
import type { ApiApp, ApiEnv } from "./api_env.ts";
import { httpMetrics } from "./middleware/metrics.ts";
import { requestContext } from "./middleware/request_context.ts";
import { requireAuth } from "./middleware/auth.ts";
import { registerAuthRoutes } from "./routes/auth.ts";
import { registerCollectionRoutes } from "./routes/collections.ts";
import { registerOperationRoutes } from "./routes/operations.ts";
import { registerSearchRoutes } from "./routes/search.ts";
import { registerDeadLetterRoutes } from "./routes/dead_letters.ts";
import { registerApiKeyRoutes } from "./routes/api_keys.ts";
import { registerMcpRoutes } from "./mcp/mcp_routes.ts";
import { registerModelRoutes } from "./routes/models.ts";
import { registerWebhookRoutes } from "./routes/webhooks.ts";
import { registerServiceRoutes } from "./routes/service.ts";
import { registerSourceRoutes } from "./routes/sources.ts";
import { registerDashboardRoutes } from "./dashboard/dashboard_routes.tsx";
import { registerWsRoutes } from "./ws/ws_routes.ts";
import { isDependencyUnavailable } from "./dependency_unavailable.ts";

export type { ApiApp, ApiEnv };

/** Largest request body accepted (413 above). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Adds routes before the fallbacks (the WebSocket routes). @default {none} */
  extend?: (app: ApiApp) => void;
}

/** Builds the app over its services; no listening socket (tests call `app.request()`). */
export function createApp(services: ApiServices, options: CreateAppOptions = {}): ApiApp {
  const { rt } = services;
  const app: ApiApp = new OpenAPIHono<ApiEnv>({
    defaultHook(result, c) {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({
          path: i.path.join("."),
          message: i.message,
        }));
        return c.json({
          error: {
            code: "invalid_request",
            message: `Invalid request: ${
              issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")
            }`,
            details: issues,
          },
        }, 400);
      }
    },
  });

  app.use(
    "*",
    requestContext(rt.log.child({}, "http"), {
      accessLogLevel: rt.config.environment === "production" ? "info" : "debug",
    }),
  );
  app.use("*", httpMetrics(services.metrics));
  if (rt.config.corsOrigins.length > 0) {
    app.use("*", cors({ origin: rt.config.corsOrigins, credentials: false, maxAge: 600 }));
  }
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError() {
      throw new AppError(
        "payload_too_large",
        `Request body is larger than ${MAX_BODY_BYTES} bytes`,
      );
    },
  });
  app.use("/api/*", limitBody);
  app.use("/mcp", limitBody);
  const auth = requireAuth(services.tokens);
  app.use("/api/*", (c, next) => {
    if (c.req.path === "/api/auth/register" || c.req.path === "/api/auth/login") return next();
    return auth(c, next);
  });

  registerServiceRoutes(app, services);
  registerDashboardRoutes(app, services);
  registerAuthRoutes(app, services);
  registerCollectionRoutes(app, services);
  registerOperationRoutes(app, services);
  registerSearchRoutes(app, services);
  registerDeadLetterRoutes(app, services);
  registerApiKeyRoutes(app, services);
  registerMcpRoutes(app, services);
  registerSourceRoutes(app, services);
  registerModelRoutes(app, services);
  registerWebhookRoutes(app, services);
  if (services.ws) registerWsRoutes(app, services.ws);
  options.extend?.(app);

  app.notFound((c) =>
    c.json(
      { error: { code: "not_found", message: `No route for ${c.req.method} ${c.req.path}` } },
      404,
    )
  );
  app.onError((err, c) => {
    if (err instanceof AppError) {
      if (err.code === "rate_limited" && typeof err.details === "object" && err.details) {
        const retry = (err.details as { retry_after_s?: number }).retry_after_s;
        if (retry) c.header("Retry-After", String(retry));
      }
      return c.json(
        { error: { code: err.code, message: err.message, details: err.details } },
        err.status as 400,
      );
    }
    if (err instanceof HTTPException) {
      const code = err.status === 413 ? "payload_too_large" : "invalid_request";
      const message = err.status === 415
        ? "Expected a JSON body with Content-Type: application/json"
        : err.message;
      return c.json({ error: { code, message } }, err.status);
    }
    // The caller's user went away after its token was checked (deleted on another replica while
    // this one still trusted its cache): what the token names no longer exists.
    const db = dbErrorInfo(err);
    if (db?.code === "23503" && db.constraint?.endsWith("owner_id_fkey")) {
      return c.json({
        error: { code: "unauthorized", message: "The token's user no longer exists" },
      }, 401);
    }
    if (isDependencyUnavailable(err)) {
      rt.log.warn("a dependency is unavailable", { err, path: c.req.path });
      c.header("Retry-After", "1");
      return c.json({
        error: {
          code: "unavailable",
          message: "The database or Redis cannot be reached right now; try again shortly",
        },
      }, 503);
    }
    rt.log.error("unhandled error", { err, path: c.req.path });
    return c.json({ error: { code: "internal", message: "Internal server error" } }, 500);
  });
  return app;
}
