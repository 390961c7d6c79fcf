/**
 * Every request gets an id: the caller's `x-request-id` when it is a sane token (letters, digits,
 * `._:-`, at most 128), else a new UUID. The id is echoed in the response's `x-request-id`, set
 * on every log line written while the request is served (and on the jobs it enqueues, whose
 * worker log lines then carry it too), and closes the request's access log line: method, route
 * pattern, status, duration and request id, at `info` in production and `debug` in development.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { type Logger, withLogFields } from "@semantik/shared";
import type { ApiEnv } from "../api_env.ts";

/** Request ids taken from callers: anything else is replaced (it would end up in logs). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Options of {@link requestContext}. */
export interface RequestContextOptions {
  /** Level of the access log line. @default {"info"} */
  accessLogLevel?: "debug" | "info";
}

export function requestContext(
  log: Logger,
  options: RequestContextOptions = {},
): MiddlewareHandler<ApiEnv> {
  const { accessLogLevel = "info" } = options;
  return function requestContext(c, next) {
    const given = c.req.header("x-request-id");
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    return withLogFields({ request_id: requestId }, async () => {
      const start = performance.now();
      try {
        await next();
      } finally {
        try {
          c.res.headers.set("x-request-id", requestId);
        } catch {
          // A response with immutable headers (a WebSocket upgrade) goes without it.
        }
        if (log.enabled(accessLogLevel)) {
          const matched = routePath(c);
          log[accessLogLevel]("request", {
            method: c.req.method,
            route: matched === "*" || matched === "/*" ? "unmatched" : matched,
            status: c.res.status,
            duration_ms: Math.round((performance.now() - start) * 10) / 10,
            request_id: requestId,
          });
        }
      }
    });
  };
}
