/**
 * Access tokens: JWT signed with HS256. Verification names the algorithm, so `alg: none` and any
 * other algorithm are refused, and checks expiry.
 */
import { sign, verify } from "hono/jwt";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";

export interface TokenClaims {
  sub: string;
  username: string;
  iat: number;
  exp: number;
}

export async function issueToken(
  secret: string,
  user: { id: string; username: string },
  ttlMinutes: number,
  now = Date.now(),
): Promise<{ token: string; expiresIn: number }> {
  const iat = Math.floor(now / 1000);
  const expiresIn = ttlMinutes * 60;
  const token = await sign(
    { sub: user.id, username: user.username, iat, exp: iat + expiresIn },
    secret,
    "HS256",
  );
  return { token, expiresIn };
}

/** The token's claims, or undefined when it is malformed, forged, of another algorithm or expired. */
export async function verifyToken(secret: string, token: string): Promise<TokenClaims | undefined> {
  try {
    const claims = await verify(token, secret, "HS256");
    if (typeof claims.sub !== "string" || typeof claims.username !== "string") return undefined;
    return claims as unknown as TokenClaims;
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
  const path = join(config.dataDir, "jwt_secret");
  try {
    const existing = (await Deno.readTextFile(path)).trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(config.dataDir, { recursive: true });
  const secret = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  try {
    // createNew: two processes starting at once keep one key.
    await Deno.writeTextFile(path, secret + "\n", { createNew: true, mode: 0o600 });
    log?.warn("JWT_SECRET is not set: generated a development key", { path });
    return secret;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return (await Deno.readTextFile(path)).trim();
    throw err;
  }
}
