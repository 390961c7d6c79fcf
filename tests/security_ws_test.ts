/**
 * Security checks on the WebSocket routes (the REST routes are covered by api_authz_test.ts):
 * missing, forged (bad signature, `alg: none`, another algorithm) and expired tokens close with
 * 4001 on both routes; another user's operation with 4003; and nothing is sent before that.
 */
import assert from "node:assert/strict";
import { sign } from "hono/jwt";
import { issueToken } from "../api/auth/tokens.ts";
import { closeAll, connect, createWsTestEnv, JWT_SECRET, type WsClient } from "./ws_env.ts";

const b64url = (obj: unknown) =>
  btoa(JSON.stringify(obj)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");

Deno.test("WebSocket routes refuse missing, forged and expired tokens (4001) and others' operations (4003)", async (t) => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const mallory = await env.user();
    const op = await env.newOp(alice.id);
    await env.step(op, { status: "processing" });
    const claims = { sub: alice.id, username: "alice", exp: Math.floor(Date.now() / 1000) + 600 };
    const tokens: [string, string | undefined][] = [
      ["no token", undefined],
      ["a bad signature", await sign(claims, "not-the-secret-".padEnd(40, "y"), "HS256")],
      ["alg none", `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`],
      ["HS512", await sign(claims, JWT_SECRET, "HS512")],
      [
        "an expired token",
        (await issueToken(JWT_SECRET, {
          user: { id: alice.id, username: "alice" },
          ttlMinutes: 1,
          now: Date.now() - 3_600_000,
        })).token,
      ],
      // Issue 18: signed with the right key, but never ending, naming nobody, or revoked.
      [
        "a token without exp",
        await sign({ sub: alice.id, username: "alice" }, JWT_SECRET, "HS256"),
      ],
      [
        "an unknown user's token",
        (await issueToken(JWT_SECRET, {
          user: { id: crypto.randomUUID(), username: "ghost" },
          ttlMinutes: 10,
        })).token,
      ],
      [
        "a token of another token version",
        (await issueToken(JWT_SECRET, {
          user: { id: alice.id, username: "alice", tokenVersion: 3 },
          ttlMinutes: 10,
        }))
          .token,
      ],
    ];
    for (const path of [`/ws/operations/${op.id}`, "/ws/operations"]) {
      for (const [what, token] of tokens) {
        for (const via of ["subprotocol", "query"] as const) {
          if (!token && via === "query") continue;
          await t.step(`${path} with ${what} (${via}): 4001`, async () => {
            const c = via === "query"
              ? connect(
                `${env.wsUrl}${path}${path.includes("?") ? "&" : "?"}token=${
                  encodeURIComponent(token!)
                }`,
              )
              : connect(`${env.wsUrl}${path}`, token ? `access_token.${token}` : undefined);
            clients.push(c);
            const { code } = await c.closed;
            assert.equal(code, 4001);
            assert.deepEqual(c.frames, [], "nothing is sent before the close");
          });
        }
      }
    }
    await t.step("another user's operation: 4003, with nothing sent", async () => {
      const c = connect(`${env.wsUrl}/ws/operations/${op.id}`, `access_token.${mallory.token}`);
      clients.push(c);
      const { code } = await c.closed;
      assert.equal(code, 4003);
      assert.deepEqual(c.frames, []);
    });
    await t.step("another user's events never reach /ws/operations", async () => {
      const c = connect(`${env.wsUrl}/ws/operations`, `access_token.${mallory.token}`);
      clients.push(c);
      await c.opened;
      await env.step(op, { progress: 50 });
      // A frame of mallory's own arrives after alice's event was published: the stream is in order.
      const own = await env.newOp(mallory.id);
      await env.step(own, { status: "processing" });
      await c.waitForFrames(1);
      assert.ok(c.frames.every((f) => f.operation_id === own.id), JSON.stringify(c.frames));
    });
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});
