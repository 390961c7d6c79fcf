import { createRoute } from "@hono/zod-openapi";
import { getConnInfo } from "hono/deno";
import type { Context } from "hono";
import {
  AppError,
  authenticate,
  createUser,
  credentialsSchema,
  issueToken,
} from "@semantik/shared";
import type { ApiApp, ApiEnv } from "../app.ts";
import type { ApiServices } from "../services.ts";
import { errorResponses, json, TokenSchema, UserSchema } from "../schemas.ts";
import { z } from "@hono/zod-openapi";

const body = { content: { "application/json": { schema: credentialsSchema } }, required: true };

function clientAddress(c: Context<ApiEnv>): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown"; // app.request() in tests has no socket
  }
}

export function registerAuthRoutes(app: ApiApp, s: ApiServices): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/auth/register",
      tags: ["auth"],
      request: { body },
      responses: {
        201: json(z.object({ user: UserSchema }), "Registered"),
        ...errorResponses(400, 403, 409),
      },
    }),
    async (c) => {
      if (!s.rt.config.allowRegistration) {
        throw new AppError("forbidden", "Registration is closed on this server");
      }
      const user = await createUser(s.rt.db, c.req.valid("json"));
      s.rt.log.info("user registered", { user_id: user.id });
      return c.json({ user }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/auth/login",
      tags: ["auth"],
      request: { body },
      responses: { 200: json(TokenSchema, "Access token"), ...errorResponses(400, 401, 429) },
    }),
    async (c) => {
      const creds = c.req.valid("json");
      const userKey = `user:${creds.username.toLowerCase()}`;
      const addrKey = `addr:${clientAddress(c)}`;
      const { perUser, perAddress } = s.loginLimits;
      const wait = Math.max(
        await perUser.retryAfter(userKey),
        await perAddress.retryAfter(addrKey),
      );
      if (wait > 0) {
        throw new AppError("rate_limited", `Too many login attempts; try again in ${wait} s`, {
          retry_after_s: wait,
        });
      }
      const user = await authenticate(s.rt.db, creds);
      if (!user) {
        await Promise.all([perUser.hit(userKey), perAddress.hit(addrKey)]);
        throw new AppError("unauthorized", "Invalid username or password");
      }
      await perUser.reset(userKey);
      const { token, expiresIn } = await issueToken(s.jwtSecret, user, s.rt.config.jwtTtlMinutes);
      return c.json(
        { access_token: token, token_type: "bearer" as const, expires_in: expiresIn },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/auth/me",
      tags: ["auth"],
      security: [{ bearer: [] }],
      responses: { 200: json(UserSchema, "The caller"), ...errorResponses(401) },
    }),
    (c) => c.json(c.get("user"), 200),
  );
}
