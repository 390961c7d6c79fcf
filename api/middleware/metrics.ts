/** Request latency by route, for /metrics. */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { Histogram, type Registry } from "prom-client";
import type { ApiEnv } from "../api_env.ts";

export function httpMetrics(registry: Registry): MiddlewareHandler<ApiEnv> {
  const histogram = new Histogram({
    name: "semantik_http_request_duration_seconds",
    help: "HTTP request latency by method, route and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return async function httpMetrics(c, next) {
    const start = performance.now();
    try {
      await next();
    } finally {
      // After next(), routePath() is the pattern of the route that answered: label cardinality
      // stays bounded (no ids in labels). Only this catch-all middleware matched: no route did.
      const matched = routePath(c);
      const route = matched === "*" || matched === "/*" ? "unmatched" : matched;
      histogram.observe(
        { method: c.req.method, route, status: String(c.res.status) },
        (performance.now() - start) / 1000,
      );
    }
  };
}
