import { createRoute } from "@hono/zod-openapi";
import { getConnInfo } from "hono/deno";
import type { Context } from "hono";
import { AppError } from "@semantik/shared";
import { issueToken } from "../auth/tokens.ts";
import { loginAttemptKeys } from "../auth/rate_limiter.ts";
import {
  accountDeletionSchema,
  authenticate,
  changePassword,
  createUser,
  credentialsSchema,
  deleteUser,
  normalizeUsername,
  passwordChangeSchema,
} from "../auth/users.ts";
import type { ApiApp, ApiEnv } from "../api_env.ts";
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

/**
 * Counts one password attempt for `username` from the request's address, or throws 429 when the
 * (name, address) or the address counter is full. The counter keys of a success, to give back.
 */
async function takeAttempt(c: Context<ApiEnv>, s: ApiServices, username: string) {
  const address = clientAddress(c);
  const keys = loginAttemptKeys(normalizeUsername(username), address);
  const { limiter, perNameAndAddress, perAddress } = s.loginLimits;
  const wait = await limiter.take([
    { key: keys.nameAndAddress, limit: perNameAndAddress },
    { key: keys.address, limit: perAddress },
  ]);
  if (wait > 0) {
    throw new AppError("rate_limited", `Too many login attempts; try again in ${wait} s`, {
      retry_after_s: wait,
    });
  }
  return keys;
}

/** After a right password: the name starts again from this address; the address gets one back. */
async function attemptSucceeded(
  s: ApiServices,
  keys: { nameAndAddress: string; address: string },
): Promise<void> {
  await s.loginLimits.limiter.reset(keys.nameAndAddress);
  await s.loginLimits.limiter.giveBack(keys.address);
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
      const user = await createUser(s.rt.db, c.req.valid("json"), {
        cost: s.rt.config.passwordHashCost,
      });
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
      // Counted before the password is checked: parallel guesses cannot pass the limit together.
      const keys = await takeAttempt(c, s, creds.username);
      const user = await authenticate(s.rt.db, creds, { cost: s.rt.config.passwordHashCost });
      if (!user) throw new AppError("unauthorized", "Invalid username or password");
      await attemptSucceeded(s, keys);
      const { token, expiresIn } = await issueToken(s.jwtSecret, {
        user,
        ttlMinutes: s.rt.config.jwtTtlMinutes,
      });
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

  app.openapi(
    createRoute({
      method: "patch",
      path: "/api/auth/me",
      tags: ["auth"],
      security: [{ bearer: [] }],
      request: {
        body: {
          content: { "application/json": { schema: passwordChangeSchema } },
          required: true,
        },
      },
      responses: {
        200: json(
          TokenSchema,
          "Password changed; every earlier token is revoked, here is a new one",
        ),
        ...errorResponses(400, 401, 403, 429),
      },
    }),
    async (c) => {
      const me = c.get("user");
      const keys = await takeAttempt(c, s, me.username);
      const account = await changePassword(s.rt.db, {
        userId: me.id,
        change: c.req.valid("json"),
        cost: s.rt.config.passwordHashCost,
      });
      s.tokens.forget(me.id);
      await attemptSucceeded(s, keys);
      s.rt.log.info("password changed", { user_id: me.id });
      const { token, expiresIn } = await issueToken(s.jwtSecret, {
        user: account,
        ttlMinutes: s.rt.config.jwtTtlMinutes,
      });
      return c.json(
        { access_token: token, token_type: "bearer" as const, expires_in: expiresIn },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/auth/me",
      tags: ["auth"],
      security: [{ bearer: [] }],
      request: {
        body: {
          content: { "application/json": { schema: accountDeletionSchema } },
          required: true,
        },
      },
      responses: {
        204: { description: "Account deleted; its tokens are refused from now on" },
        ...errorResponses(400, 401, 403, 409, 429),
      },
    }),
    async (c) => {
      const me = c.get("user");
      const keys = await takeAttempt(c, s, me.username);
      await deleteUser(s.rt.db, { userId: me.id, password: c.req.valid("json").password });
      s.tokens.forget(me.id);
      await s.loginLimits.limiter.reset(keys.nameAndAddress);
      s.rt.log.info("user deleted", { user_id: me.id });
      return c.body(null, 204);
    },
  );
}
