import type { ApiApp } from "../api_env.ts";
import type { ApiServices } from "../services.ts";
import { AppError } from "@semantik/shared";
import { renderDocsPage } from "../docs_page.ts";

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Semantik-realtime API",
    version: "2.0.0",
    description:
      "Collections over document sources, operations with live progress, semantic search. " +
      "Errors are `{error: {code, message, details}}`; live progress is on the WebSocket routes " +
      "`/ws/operations/{id}` and `/ws/operations`.",
  },
};

export function registerServiceRoutes(app: ApiApp, s: ApiServices): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const report = await s.readiness();
    return c.json(
      { status: report.ok ? "ready" : "unavailable", checks: report.checks },
      report.ok ? 200 : 503,
    );
  });

  app.get("/metrics", async (c) => {
    const token = s.rt.config.metricsToken;
    if (token && c.req.header("authorization") !== `Bearer ${token}`) {
      throw new AppError("unauthorized", "Missing or wrong metrics token");
    }
    return c.body(await s.metrics.metrics(), 200, { "content-type": s.metrics.contentType });
  });

  app.doc31("/openapi.json", OPENAPI_INFO);

  app.get("/docs", (c) => {
    const doc = app.getOpenAPI31Document(OPENAPI_INFO);
    return c.html(renderDocsPage(doc as unknown as Record<string, unknown>));
  });
}
