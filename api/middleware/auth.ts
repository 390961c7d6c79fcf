/** Bearer-token authentication for `/api/*` routes. */
import type { MiddlewareHandler } from "hono";
import { AppError } from "@semantik/shared";
import type { TokenAuthenticator } from "../auth/token_authenticator.ts";
import type { ApiEnv } from "../api_env.ts";
import { keyAllows, needsLoginToken } from "../auth/api_keys.ts";

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

/**
 * Requires a valid HS256 token with an expiry whose user still exists at the token's version (not
 * deleted, password not changed since), or a valid API key; sets `user` (and `apiKey`) for the
 * handlers. A key whose scopes do not cover the request is 403 `forbidden` ({@link keyAllows}).
 */
export function requireAuth(tokens: TokenAuthenticator): MiddlewareHandler<ApiEnv> {
  return async function requireAuth(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new AppError("unauthorized", "Missing bearer token");
    const auth = await tokens.authenticateCredential(token);
    if (!auth) throw new AppError("unauthorized", "Invalid or expired token");
    if (auth.apiKey && !keyAllows(auth.apiKey.scopes, { method: c.req.method, path: c.req.path })) {
      throw new AppError(
        "forbidden",
        needsLoginToken({ method: c.req.method, path: c.req.path })
          ? `An API key cannot call ${c.req.method} ${c.req.path}: it needs a login token`
          : `The API key's scopes (${
            auth.apiKey.scopes.join(", ")
          }) do not allow ${c.req.method} ${c.req.path}: it needs the write scope`,
      );
    }
    c.set("user", auth.user);
    if (auth.apiKey) c.set("apiKey", auth.apiKey);
    await next();
  };
}
