import assert from "node:assert/strict";
import { sign } from "hono/jwt";
import { issueToken, resolveJwtSecret, verifyToken } from "./tokens.ts";
import { loadConfig } from "@semantik/shared";

const SECRET = "s".repeat(40);
const user = { id: "0b9d2f6e-3c1a-4a57-9d0e-2f1b7c8a9e10", username: "alice" };

function b64url(obj: unknown): string {
  return btoa(JSON.stringify(obj)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
}

Deno.test("issueToken() makes an HS256 token that verifyToken() accepts", async () => {
  const { token, expiresIn } = await issueToken(SECRET, { user, ttlMinutes: 60 });
  assert.equal(expiresIn, 3600);
  const claims = await verifyToken(SECRET, token);
  assert.equal(claims?.sub, user.id);
  assert.equal(claims?.username, "alice");
});

Deno.test("verifyToken() refuses a bad signature, alg none, another algorithm and expiry", async () => {
  const { token } = await issueToken(SECRET, { user, ttlMinutes: 60 });
  assert.equal(await verifyToken("t".repeat(40), token), undefined);
  const payload = b64url({
    sub: user.id,
    username: "alice",
    exp: Math.floor(Date.now() / 1000) + 60,
  });
  assert.equal(
    await verifyToken(SECRET, `${b64url({ alg: "none", typ: "JWT" })}.${payload}.`),
    undefined,
  );
  const hs512 = await sign({ sub: user.id, username: "alice" }, SECRET, "HS512");
  assert.equal(await verifyToken(SECRET, hs512), undefined);
  const expired = await issueToken(SECRET, { user, ttlMinutes: 1, now: Date.now() - 2 * 60_000 });
  assert.equal(await verifyToken(SECRET, expired.token), undefined);
  assert.equal(await verifyToken(SECRET, "garbage"), undefined);
});

Deno.test("verifyToken() refuses a token without an expiry, or with a malformed one or version", async () => {
  const base = { sub: user.id, username: "alice" };
  assert.equal(await verifyToken(SECRET, await sign(base, SECRET, "HS256")), undefined);
  const exp = Math.floor(Date.now() / 1000) + 60;
  assert.equal(
    await verifyToken(SECRET, await sign({ ...base, exp: String(exp) } as never, SECRET, "HS256")),
    undefined,
  );
  for (const ver of [-1, 1.5, "2"]) {
    assert.equal(
      await verifyToken(SECRET, await sign({ ...base, exp, ver }, SECRET, "HS256")),
      undefined,
      String(ver),
    );
  }
  // Tokens from before versions existed count as version 0.
  assert.equal((await verifyToken(SECRET, await sign({ ...base, exp }, SECRET, "HS256")))?.ver, 0);
  const { token } = await issueToken(SECRET, {
    user: { ...user, tokenVersion: 3 },
    ttlMinutes: 60,
  });
  assert.equal((await verifyToken(SECRET, token))?.ver, 3);
});

Deno.test("resolveJwtSecret() generates one development key under DATA_DIR and keeps it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = loadConfig({ DATA_DIR: dir });
    const [a, b] = await Promise.all([resolveJwtSecret(config), resolveJwtSecret(config)]);
    assert.equal(a, b);
    assert.equal(await resolveJwtSecret(config), a);
    assert.ok(a.length >= 32);
    assert.equal((await Deno.stat(`${dir}/jwt_secret`)).mode! & 0o777, 0o600);
    assert.equal(await resolveJwtSecret(loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET })), SECRET);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
