/**
 * Access tokens: JWT signed with HS256. Verification names the algorithm, so `alg: none` and any
 * other algorithm are refused, and requires an expiry (a token without `exp` would never end).
 * `ver` is the user's token version when it was issued: the API refuses a token whose version is
 * below the user's (see {@link TokenAuthenticator}); tokens from before versions count as 0.
 */
import { sign, verify } from "hono/jwt";
import { type Config, developmentSecret, type Logger } from "@semantik/shared";

export interface TokenClaims {
  sub: string;
  username: string;
  iat: number;
  exp: number;
  /** The user's token version at issue; 0 when absent. */
  ver: number;
}

/** Whom a token is for, and for how long. */
export interface IssueTokenOptions {
  /** The token's user; `tokenVersion` @default {0} */
  user: { id: string; username: string; tokenVersion?: number };
  /** The token's lifetime in minutes. */
  ttlMinutes: number;
  /** The issue time in epoch milliseconds. @default {Date.now()} */
  now?: number;
}

export async function issueToken(
  secret: string,
  { user, ttlMinutes, now = Date.now() }: IssueTokenOptions,
): Promise<{ token: string; expiresIn: number }> {
  const iat = Math.floor(now / 1000);
  const expiresIn = ttlMinutes * 60;
  const token = await sign(
    {
      sub: user.id,
      username: user.username,
      iat,
      exp: iat + expiresIn,
      ver: user.tokenVersion ?? 0,
    },
    secret,
    "HS256",
  );
  return { token, expiresIn };
}

/**
 * The token's claims, or undefined when it is malformed, forged, of another algorithm, expired or
 * without an expiry. Whether its user still exists is {@link TokenAuthenticator}'s check.
 */
export async function verifyToken(secret: string, token: string): Promise<TokenClaims | undefined> {
  try {
    const claims = await verify(token, secret, "HS256");
    if (typeof claims.sub !== "string" || typeof claims.username !== "string") return undefined;
    // hono checks `exp` only when present.
    if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) return undefined;
    const ver = claims.ver ?? 0;
    if (typeof ver !== "number" || !Number.isInteger(ver) || ver < 0) return undefined;
    return { ...(claims as unknown as TokenClaims), ver };
  } catch {
    return undefined;
  }
}

/**
 * The signing key: `JWT_SECRET` when set (required in production); in development a random key
 * generated once and kept in `DATA_DIR/jwt_secret` (mode 0600), so tokens survive restarts.
 */
export async function resolveJwtSecret(config: Config, log?: Logger): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  if (config.environment === "production") {
    throw new Error("Cannot sign tokens: JWT_SECRET is required in production");
  }
  // Generated once under DATA_DIR and kept, like SECRETS_KEY (shared/config/development_secret.ts).
  return await developmentSecret(config.dataDir, "jwt_secret", { setting: "JWT_SECRET", log });
}
