/**
 * The authorisation matrix: every protected route refuses a missing token, a forged one (bad
 * signature, `alg: none`, another algorithm) and an expired one with 401; another user's
 * collection, operation or document is 403; a missing one 404 (another user's webhook is 404 too:
 * `tests/webhooks_test.ts`).
 */
import assert from "node:assert/strict";
import { sign } from "hono/jwt";
import { issueToken } from "../api/auth/tokens.ts";
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
  {
    method: "PATCH",
    path: () => "/api/auth/me",
    body: { current_password: "x", new_password: "new-password-1" },
  },
  { method: "DELETE", path: () => "/api/auth/me", body: { password: "x" } },
  { method: "POST", path: () => "/api/v2/collections", body: { name: "x" } },
  { method: "GET", path: () => "/api/v2/collections" },
  { method: "GET", path: () => "/api/v2/models" },
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
  {
    method: "GET",
    path: (i) => `/api/v2/collections/${i.collection}/documents/${i.source}`,
  },
  {
    method: "GET",
    path: (i) => `/api/v2/collections/${i.collection}/documents/${i.source}/chunks/0`,
  },
  { method: "GET", path: (i) => `/api/v2/collections/${i.collection}/operations` },
  { method: "GET", path: () => "/api/v2/operations" },
  { method: "GET", path: (i) => `/api/v2/operations/${i.operation}` },
  { method: "DELETE", path: (i) => `/api/v2/operations/${i.operation}` },
  { method: "POST", path: (i) => `/api/v2/operations/${i.operation}/retry` },
  { method: "POST", path: () => "/api/v2/search", body: { query: "x" } },
  { method: "GET", path: () => "/api/v2/dead-letters" },
  { method: "POST", path: (i) => `/api/v2/dead-letters/${i.operation}/requeue` },
  { method: "POST", path: () => "/api/v2/api-keys", body: { name: "x", scopes: ["read"] } },
  { method: "GET", path: () => "/api/v2/api-keys" },
  { method: "DELETE", path: (i) => `/api/v2/api-keys/${i.operation}` },
  {
    method: "POST",
    path: () => "/api/v2/webhooks",
    body: { url: "https://example.com/hook", events: ["operation.completed"] },
  },
  { method: "GET", path: () => "/api/v2/webhooks" },
  { method: "DELETE", path: (i) => `/api/v2/webhooks/${i.operation}` },
  { method: "GET", path: (i) => `/api/v2/webhooks/${i.operation}/deliveries` },
  {
    method: "POST",
    path: () => "/mcp",
    body: { jsonrpc: "2.0", id: 1, method: "tools/list" },
  },
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
      [
        "expired",
        (await issueToken(secret, { user: alice, ttlMinutes: 1, now: Date.now() - 3_600_000 }))
          .token,
      ],
      // Signed with the right key, but without an expiry: it would never end.
      ["no exp", await sign({ sub: alice.id, username: "alice" }, secret, "HS256")],
      // Signed with the right key for a user that does not exist (writes used to fail 500).
      [
        "unknown user",
        (await issueToken(secret, {
          user: { id: crypto.randomUUID(), username: "x" },
          ttlMinutes: 10,
        })).token,
      ],
      [
        "sub not a uuid",
        (await issueToken(secret, { user: { id: "1 or 1=1", username: "x" }, ttlMinutes: 10 }))
          .token,
      ],
      // API keys (issue 24): unknown, and shaped like one but not one.
      ["unknown api key", "sk_sem_" + "A".repeat(43)],
      ["api key prefix only", "sk_sem_"],
      [
        "another token version",
        (await issueToken(secret, { user: { ...alice, tokenVersion: 7 }, ttlMinutes: 10 })).token,
      ],
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
      r.path(ids) !== r.path(missing) && !r.path(ids).includes("dead-letters") &&
      !r.path(ids).includes("api-keys") && !r.path(ids).includes("webhooks")
    );
    assert.equal(scoped.length, 14);
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

Deno.test("deleting an account or changing its password revokes its tokens", async () => {
  const env = await createApiTestEnv();
  try {
    const bob = await env.user("bob");
    const password = `pw-${bob.username}-secret`;
    // A second token of bob's, as from another device.
    const other = await env.call("POST", "/api/auth/login", {
      body: { username: "bob", password },
    });
    assert.equal(other.status, 200);

    const wrong = await env.call("PATCH", "/api/auth/me", {
      token: bob.token,
      body: { current_password: "not-the-password", new_password: "brand-new-pass" },
    });
    assert.equal(wrong.status, 403, JSON.stringify(wrong.body));
    assert.equal((await env.call("GET", "/api/auth/me", { token: bob.token })).status, 200);

    const changed = await env.call("PATCH", "/api/auth/me", {
      token: bob.token,
      body: { current_password: password, new_password: "brand-new-pass" },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    for (
      const [what, token] of [["the token used", bob.token], ["another", other.body.access_token]]
    ) {
      const res = await env.call("POST", "/api/v2/collections", { token, body: { name: "c" } });
      assert.equal(res.status, 401, `${what} still works after the password change`);
    }
    const fresh = changed.body.access_token as string;
    const me = await env.call("GET", "/api/auth/me", { token: fresh });
    assert.deepEqual(me.body, { id: bob.id, username: "bob" });
    const oldLogin = await env.call("POST", "/api/auth/login", {
      body: { username: "bob", password },
    });
    assert.equal(oldLogin.status, 401);
    const newLogin = await env.call("POST", "/api/auth/login", {
      body: { username: "bob", password: "brand-new-pass" },
    });
    assert.equal(newLogin.status, 200);

    // An account with collections is not deleted (their vectors and jobs need their own delete).
    const made = await env.call("POST", "/api/v2/collections", {
      token: fresh,
      body: { name: "c" },
    });
    assert.equal(made.status, 201);
    const busy = await env.call("DELETE", "/api/auth/me", {
      token: fresh,
      body: { password: "brand-new-pass" },
    });
    assert.equal(busy.status, 409, JSON.stringify(busy.body));
    await env.rt.db.query("delete from collections where owner_id = $1", [bob.id]);
    const badPw = await env.call("DELETE", "/api/auth/me", {
      token: fresh,
      body: { password: "wrong-password" },
    });
    assert.equal(badPw.status, 403);
    const gone = await env.call("DELETE", "/api/auth/me", {
      token: fresh,
      body: { password: "brand-new-pass" },
    });
    assert.equal(gone.status, 204, JSON.stringify(gone.body));
    // Every token of the deleted user is refused, reads and writes alike: 401, never 500.
    for (const token of [fresh, newLogin.body.access_token]) {
      assert.equal((await env.call("GET", "/api/auth/me", { token })).status, 401);
      const write = await env.call("POST", "/api/v2/collections", { token, body: { name: "d" } });
      assert.equal(write.status, 401, JSON.stringify(write.body));
      assert.equal(write.body.error.code, "unauthorized");
    }
    const relogin = await env.call("POST", "/api/auth/login", {
      body: { username: "bob", password: "brand-new-pass" },
    });
    assert.equal(relogin.status, 401);
  } finally {
    await env.cleanup();
  }
});

Deno.test("a user deleted behind the API's back (another replica, SQL) loses access within the cache time", async () => {
  const env = await createApiTestEnv();
  try {
    const carol = await env.user("carol");
    assert.equal((await env.call("GET", "/api/auth/me", { token: carol.token })).status, 200);
    await env.rt.db.query("delete from users where id = $1", [carol.id]);
    // The API caches a user for 5 s; wait past that (the deadline is the cache time plus slack).
    const deadline = Date.now() + 15_000;
    let last = 200;
    while (Date.now() < deadline) {
      const res = await env.call("POST", "/api/v2/collections", {
        token: carol.token,
        body: { name: "x" },
      });
      last = res.status;
      if (last === 401) break;
      assert.ok(last !== 500, `a write by a deleted user failed 500: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(last, 401, "the deleted user's token was still accepted after 15 s");
  } finally {
    await env.cleanup();
  }
});

Deno.test("ten wrong passwords for a name from one address do not lock its owner out elsewhere", async () => {
  const env = await createApiTestEnv();
  try {
    const victim = await env.user("Victim");
    const password = `pw-${victim.username}-secret`;
    const attacker = "203.0.113.7";
    let last;
    for (let i = 0; i < 11; i++) {
      last = await env.call("POST", "/api/auth/login", {
        remoteAddress: attacker,
        body: { username: i % 2 ? "victim" : "VICTIM", password: `guess-${i}-xxxx` },
      });
    }
    assert.equal(last!.status, 429, "the attacker's address is not limited for that name");
    // The owner, from their own address, logs in, under any spelling of the name.
    for (const username of ["Victim", "victim"]) {
      const own = await env.call("POST", "/api/auth/login", {
        remoteAddress: "198.51.100.20",
        body: { username, password },
      });
      assert.equal(own.status, 200, `${username}: ${JSON.stringify(own.body)}`);
    }
    // The attacker's address stays limited for the name, even with the right password.
    const still = await env.call("POST", "/api/auth/login", {
      remoteAddress: attacker,
      body: { username: "victim", password },
    });
    assert.equal(still.status, 429);
  } finally {
    await env.cleanup();
  }
});

Deno.test("concurrent wrong logins cannot pass the limit together", async () => {
  const env = await createApiTestEnv();
  try {
    await env.user("dave");
    const answers = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        env.call("POST", "/api/auth/login", {
          remoteAddress: "192.0.2.9",
          body: { username: "dave", password: `guess-${i}-xxxx` },
        })),
    );
    const checked = answers.filter((a) => a.status === 401).length;
    const limited = answers.filter((a) => a.status === 429).length;
    assert.equal(checked + limited, 25);
    assert.equal(checked, 10, `${checked} wrong passwords were checked, the limit is 10`);
  } finally {
    await env.cleanup();
  }
});
