/** Bearer-token authentication for `/api/*` routes. */
import type { MiddlewareHandler } from "hono";
import { AppError, verifyToken } from "@semantik/shared";
import type { ApiEnv } from "../app.ts";

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

/** Requires a valid HS256 token; sets `user` for the handlers. */
export function requireAuth(secret: string): MiddlewareHandler<ApiEnv> {
  return async function requireAuth(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new AppError("unauthorized", "Missing bearer token");
    const claims = await verifyToken(secret, token);
    if (!claims) throw new AppError("unauthorized", "Invalid or expired token");
    c.set("user", { id: claims.sub, username: claims.username });
    await next();
  };
}
