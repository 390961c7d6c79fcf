/**
 * The authorisation matrix: every protected route refuses a missing token, a forged one (bad
 * signature, `alg: none`, another algorithm) and an expired one with 401; another user's
 * collection, operation or document is 403; a missing one 404.
 */
import assert from "node:assert/strict";
import { sign } from "hono/jwt";
import { issueToken } from "@semantik/shared";
import { createApiTestEnv } from "./helpers/api_env.ts";

const b64url = (obj: unknown) =>
  btoa(JSON.stringify(obj)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");

type Route = { method: string; path: (ids: Ids) => string; body?: unknown };
interface Ids {
  collection: string;
  operation: string;
  source: string;
}

const ROUTES: Route[] = [
  { method: "GET", path: () => "/api/auth/me" },
  { method: "POST", path: () => "/api/v2/collections", body: { name: "x" } },
  { method: "GET", path: () => "/api/v2/collections" },
  { method: "GET", path: (i) => `/api/v2/collections/${i.collection}` },
  {
    method: "PATCH",
    path: (i) => `/api/v2/collections/${i.collection}`,
    body: { description: "x" },
  },
  { method: "DELETE", path: (i) => `/api/v2/collections/${i.collection}` },
  {
    method: "POST",
    path: (i) => `/api/v2/collections/${i.collection}/sources`,
    body: { type: "directory", path: "/tmp" },
  },
  { method: "DELETE", path: (i) => `/api/v2/collections/${i.collection}/sources/${i.source}` },
  { method: "POST", path: (i) => `/api/v2/collections/${i.collection}/sync` },
  { method: "POST", path: (i) => `/api/v2/collections/${i.collection}/reindex`, body: {} },
  { method: "GET", path: (i) => `/api/v2/collections/${i.collection}/documents` },
  { method: "GET", path: (i) => `/api/v2/collections/${i.collection}/operations` },
  { method: "GET", path: () => "/api/v2/operations" },
  { method: "GET", path: (i) => `/api/v2/operations/${i.operation}` },
  { method: "DELETE", path: (i) => `/api/v2/operations/${i.operation}` },
  { method: "POST", path: (i) => `/api/v2/operations/${i.operation}/retry` },
  { method: "POST", path: () => "/api/v2/search", body: { query: "x" } },
  { method: "GET", path: () => "/api/v2/dead-letters" },
  { method: "POST", path: (i) => `/api/v2/dead-letters/${i.operation}/requeue` },
];

Deno.test("every protected route answers 401 to missing, forged and expired tokens", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user("alice");
    const secret = env.services.jwtSecret;
    const claims = { sub: alice.id, username: "alice", exp: Math.floor(Date.now() / 1000) + 600 };
    const tokens: [string, string | undefined][] = [
      ["no token", undefined],
      ["garbage", "not.a.jwt"],
      ["bad signature", await sign(claims, "another-secret-of-enough-length-xxxxxxx", "HS256")],
      ["alg none", `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`],
      ["HS512", await sign(claims, secret, "HS512")],
      ["expired", (await issueToken(secret, alice, 1, Date.now() - 3_600_000)).token],
    ];
    const ids: Ids = {
      collection: crypto.randomUUID(),
      operation: crypto.randomUUID(),
      source: crypto.randomUUID(),
    };
    for (const route of ROUTES) {
      for (const [what, token] of tokens) {
        const res = await env.call(route.method, route.path(ids), { token, body: route.body });
        assert.equal(res.status, 401, `${route.method} ${route.path(ids)} with ${what}`);
        assert.equal(res.body.error.code, "unauthorized");
      }
    }
    // The open routes stay open.
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/docs", "/metrics"]) {
      assert.notEqual((await env.call("GET", path)).status, 401, path);
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("another user's collection, operation and documents are 403; missing ones 404", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user("alice");
    const mallory = await env.user("mallory");
    const created = await env.call("POST", "/api/v2/collections", {
      token: alice.token,
      body: { name: "private", source: { type: "directory", path: env.docs } },
    });
    const ids: Ids = {
      collection: created.body.collection.id,
      operation: created.body.operation.id,
      source: created.body.collection.sources[0].id,
    };
    const missing: Ids = {
      collection: crypto.randomUUID(),
      operation: crypto.randomUUID(),
      source: crypto.randomUUID(),
    };
    const scoped = ROUTES.filter((r) =>
      r.path(ids) !== r.path(missing) && !r.path(ids).includes("dead-letters")
    );
    assert.equal(scoped.length, 12);
    for (const route of scoped) {
      const theirs = await env.call(route.method, route.path(ids), {
        token: mallory.token,
        body: route.body,
      });
      assert.equal(
        theirs.status,
        403,
        `${route.method} ${route.path(ids)}: ${JSON.stringify(theirs.body)}`,
      );
      assert.equal(theirs.body.error.code, "forbidden");
      const gone = await env.call(route.method, route.path(missing), {
        token: mallory.token,
        body: route.body,
      });
      assert.equal(
        gone.status,
        404,
        `${route.method} ${route.path(missing)}: ${JSON.stringify(gone.body)}`,
      );
    }
    // Searching someone else's collection by id is refused too.
    const search = await env.call("POST", "/api/v2/search", {
      token: mallory.token,
      body: { query: "x", collection_ids: [ids.collection] },
    });
    assert.equal(search.status, 403);
    // Lists show only one's own.
    assert.deepEqual(
      (await env.call("GET", "/api/v2/collections", { token: mallory.token })).body.collections,
      [],
    );
    assert.deepEqual(
      (await env.call("GET", "/api/v2/operations", { token: mallory.token })).body.operations,
      [],
    );
    assert.deepEqual(
      (await env.call("GET", `/api/v2/operations?collection_id=${ids.collection}`, {
        token: mallory.token,
      })).body
        .operations,
      [],
    );
    // Nothing mallory tried changed alice's collection.
    const mine = await env.call("GET", `/api/v2/collections/${ids.collection}`, {
      token: alice.token,
    });
    assert.equal(mine.body.name, "private");
    assert.equal(mine.body.status, "pending");
  } finally {
    await env.cleanup();
  }
});

Deno.test("login is rate limited per client address across usernames, and a success resets the user's count", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user("alice");
    // A few failures for alice, then her right password: her own counter starts again.
    for (let i = 0; i < 5; i++) {
      await env.call("POST", "/api/auth/login", {
        body: { username: "alice", password: `wrong-${i}-xxxx` },
      });
    }
    const ok = await env.call("POST", "/api/auth/login", {
      body: { username: "alice", password: `pw-${alice.username}-secret` },
    });
    assert.equal(ok.status, 200);
    // Spraying many usernames from one address hits the address limit.
    let last;
    for (let i = 0; i < 60 && last?.status !== 429; i++) {
      last = await env.call("POST", "/api/auth/login", {
        body: { username: `spray${i}`, password: "password-x" },
      });
    }
    assert.equal(last!.status, 429);
    assert.equal(last!.body.error.code, "rate_limited");
    // While limited, even the right password is refused from that address.
    const blocked = await env.call("POST", "/api/auth/login", {
      body: { username: "alice", password: `pw-${alice.username}-secret` },
    });
    assert.equal(blocked.status, 429);
  } finally {
    await env.cleanup();
  }
});
