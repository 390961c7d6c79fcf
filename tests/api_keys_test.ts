// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * API keys (issue 24) over the app: creation answers the secret once and stores only its hash,
 * the list never shows it, a key authenticates like a login token within its scopes (read: list,
 * search, read; write: also create and change; account routes need a login token), revocation and
 * expiry are refused on the next request, `last_used_at` is written at most once a minute,
 * deleting the user deletes its keys, and no key reaches a log line.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { configureLogging, type LogLevel } from "@semantik/shared";
import { createApiTestEnv } from "./helpers/api_env.ts";

const KEY_SHAPE = /^sk_sem_[0-9A-Za-z]{43}$/;

async function newKey(
  env: Awaited<ReturnType<typeof createApiTestEnv>>,
  token: string,
  body: Record<string, unknown>,
) {
  const res = await env.call("POST", "/api/v2/api-keys", { token, body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

Deno.test("an API key is created once, stored hashed, listed without its secret and revoked at once", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const before = Date.now();
    const created = await newKey(env, alice.token, {
      name: "laptop",
      scopes: ["read"],
      expires_in_days: 30,
    });
    assert.match(created.key, KEY_SHAPE);
    assert.equal(created.name, "laptop");
    assert.deepEqual(created.scopes, ["read"]);
    assert.ok(created.key.startsWith(created.prefix), "the prefix is the key's beginning");
    assert.ok(created.prefix.length < 20, "the prefix is short (not the secret)");
    const expires = Date.parse(created.expires_at) - before;
    const day = 86_400_000;
    assert.ok(Math.abs(expires - 30 * day) < 60_000, `expires in 30 days, got ${expires} ms`);
    assert.ok(Date.parse(created.created_at) >= before - 5000);

    // Only the SHA-256 is stored.
    const rows = await env.rt.db.query<any>("select * from api_keys where id = $1", [created.id]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].key_hash, createHash("sha256").update(created.key).digest("hex"));
    assert.ok(!JSON.stringify(rows[0]).includes(created.key.slice(15)), "no secret in the row");

    // Two keys never share their secret.
    const other = await newKey(env, alice.token, { name: "ci", scopes: ["write", "read"] });
    assert.notEqual(other.key, created.key);
    assert.deepEqual(other.scopes, ["read", "write"]);
    assert.equal(other.expires_at, null);

    const list = await env.call("GET", "/api/v2/api-keys", { token: alice.token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.api_keys.map((k: any) => k.name), ["ci", "laptop"]);
    for (const k of list.body.api_keys) {
      assert.equal(k.key, undefined);
      assert.equal(k.key_hash, undefined);
      assert.equal(k.last_used_at, null);
    }
    assert.ok(!JSON.stringify(list.body).includes(created.key));

    // The key authenticates like a token.
    const me = await env.call("GET", "/api/auth/me", { token: created.key });
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.id, alice.id);
    const cols = await env.call("GET", "/api/v2/collections", { token: created.key });
    assert.equal(cols.status, 200);

    // Another user neither sees nor revokes it.
    const bob = await env.user();
    const bobs = await env.call("GET", "/api/v2/api-keys", { token: bob.token });
    assert.deepEqual(bobs.body.api_keys, []);
    const steal = await env.call("DELETE", `/api/v2/api-keys/${created.id}`, { token: bob.token });
    assert.equal(steal.status, 403);
    assert.equal(steal.body.error.code, "forbidden");
    assert.equal(
      (await env.call("GET", "/api/v2/api-keys", { token: alice.token })).body.api_keys.length,
      2,
      "still there",
    );

    const del = await env.call("DELETE", `/api/v2/api-keys/${created.id}`, {
      token: alice.token,
    });
    assert.equal(del.status, 204);
    const after = await env.call("GET", "/api/v2/collections", { token: created.key });
    assert.equal(after.status, 401, "refused on the very next request");
    assert.equal(after.body.error.code, "unauthorized");
    const again = await env.call("DELETE", `/api/v2/api-keys/${created.id}`, {
      token: alice.token,
    });
    assert.equal(again.status, 404);
    // The other key still works.
    assert.equal((await env.call("GET", "/api/v2/collections", { token: other.key })).status, 200);
  } finally {
    await env.cleanup();
  }
});

Deno.test("malformed, unknown and wrong-secret keys are 401; bad bodies are 400", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const { key, prefix } = await newKey(env, alice.token, { name: "k", scopes: ["read"] });
    const last = key.at(-1) === "a" ? "b" : "a";
    for (
      const bad of [
        key.slice(0, -1) + last, // right prefix, wrong secret
        prefix, // the prefix alone
        "sk_sem_",
        key + "!",
        "sk_sem_" + "A".repeat(43),
      ]
    ) {
      const res = await env.call("GET", "/api/v2/collections", { token: bad });
      assert.equal(res.status, 401, bad);
      assert.equal(res.body.error.code, "unauthorized");
    }
    for (
      const body of [
        { name: "x", scopes: [] },
        { name: "x", scopes: ["admin"] },
        { name: "x", scopes: ["read", "read"] },
        { name: "", scopes: ["read"] },
        { name: "x", scopes: ["read"], expires_in_days: 0 },
        { name: "x", scopes: ["read"], expires_in_days: 1.5 },
        { name: "x", scopes: ["read"], extra: 1 },
      ]
    ) {
      const res = await env.call("POST", "/api/v2/api-keys", { token: alice.token, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, "invalid_request");
    }
    const badId = await env.call("DELETE", "/api/v2/api-keys/not-a-uuid", { token: alice.token });
    assert.equal(badId.status, 400);
  } finally {
    await env.cleanup();
  }
});

Deno.test("scopes: read lists, searches and reads; write also changes; account routes need a login token", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const read = (await newKey(env, alice.token, { name: "r", scopes: ["read"] })).key;
    const write = (await newKey(env, alice.token, { name: "w", scopes: ["write"] })).key;

    const made = await env.call("POST", "/api/v2/collections", {
      token: write,
      body: { name: "by-key" },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.collection.id;

    const denied = await env.call("POST", "/api/v2/collections", {
      token: read,
      body: { name: "nope" },
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, "forbidden");
    assert.match(denied.body.error.message, /write scope/);
    for (
      const [method, path, body] of [
        ["POST", `/api/v2/collections/${id}/sync`, undefined],
        ["POST", `/api/v2/collections/${id}/reindex`, {}],
        ["POST", `/api/v2/collections/${id}/sources`, { type: "directory", path: env.docs }],
        ["PATCH", `/api/v2/collections/${id}`, { name: "renamed" }],
        ["DELETE", `/api/v2/collections/${id}`, undefined],
        ["POST", "/api/v2/api-keys", { name: "more", scopes: ["write"] }],
      ] as const
    ) {
      const res = await env.call(method, path, { token: read, body });
      assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "forbidden");
    }
    // Nothing changed.
    const got = await env.call("GET", `/api/v2/collections/${id}`, { token: read });
    assert.equal(got.status, 200);
    assert.equal(got.body.name, "by-key");
    assert.equal(got.body.status, "ready");
    const ops = await env.call("GET", `/api/v2/collections/${id}/operations`, { token: read });
    assert.deepEqual(ops.body.operations, []);

    // Reads and search are allowed to a read key.
    for (const path of ["/api/v2/collections", "/api/v2/operations", "/api/v2/api-keys"]) {
      assert.equal((await env.call("GET", path, { token: read })).status, 200, path);
    }
    const found = await env.call("POST", "/api/v2/search", {
      token: read,
      body: { query: "anything", collection_ids: [id] },
    });
    assert.equal(found.status, 200, JSON.stringify(found.body));

    // A write key manages keys; no key changes the account.
    const more = await env.call("POST", "/api/v2/api-keys", {
      token: write,
      body: { name: "from-key", scopes: ["read"] },
    });
    assert.equal(more.status, 201);
    const patch = await env.call("PATCH", "/api/auth/me", {
      token: write,
      body: { current_password: `pw-${alice.username}-secret`, new_password: "another-pass-1" },
    });
    assert.equal(patch.status, 403);
    assert.match(patch.body.error.message, /login token/);
    const gone = await env.call("DELETE", "/api/auth/me", {
      token: write,
      body: { password: `pw-${alice.username}-secret` },
    });
    assert.equal(gone.status, 403);
    const byReadKey = await env.call("PATCH", "/api/auth/me", {
      token: read,
      body: { current_password: `pw-${alice.username}-secret`, new_password: "another-pass-1" },
    });
    assert.equal(byReadKey.status, 403);
    assert.match(byReadKey.body.error.message, /login token/);

    // Login tokens keep full access.
    const renamed = await env.call("PATCH", `/api/v2/collections/${id}`, {
      token: alice.token,
      body: { name: "renamed" },
    });
    assert.equal(renamed.status, 200);
  } finally {
    await env.cleanup();
  }
});

Deno.test("an expired key is refused; last_used_at is written at most once a minute", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const k = await newKey(env, alice.token, { name: "k", scopes: ["read"], expires_in_days: 1 });
    assert.equal((await env.call("GET", "/api/v2/collections", { token: k.key })).status, 200);
    const listed = async () =>
      (await env.call("GET", "/api/v2/api-keys", { token: alice.token })).body.api_keys[0];
    const first = (await listed()).last_used_at;
    assert.ok(first, "used once: last_used_at is set");
    assert.equal((await env.call("GET", "/api/v2/collections", { token: k.key })).status, 200);
    assert.equal((await listed()).last_used_at, first, "a second use within the minute: no write");

    // Last used two minutes ago: the next use records the time again.
    await env.rt.db.query(
      "update api_keys set last_used_at = now() - interval '2 minutes' where id = $1",
      [k.id],
    );
    const old = (await listed()).last_used_at;
    assert.equal((await env.call("GET", "/api/v2/collections", { token: k.key })).status, 200);
    const fresh = (await listed()).last_used_at;
    assert.ok(Date.parse(fresh) - Date.parse(old) >= 110_000, `${old} -> ${fresh}`);

    // Expiry in the past: refused at once.
    await env.rt.db.query(
      "update api_keys set expires_at = now() - interval '1 second' where id = $1",
      [k.id],
    );
    const res = await env.call("GET", "/api/v2/collections", { token: k.key });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, "unauthorized");
  } finally {
    await env.cleanup();
  }
});

Deno.test("/mcp refuses a body over the API's limit", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "x".repeat(1024 * 1024) });
    const res = await env.call("POST", "/mcp", { token: alice.token, raw: big });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, "payload_too_large");
  } finally {
    await env.cleanup();
  }
});

Deno.test("deleting the user deletes its keys", async () => {
  const env = await createApiTestEnv();
  try {
    const alice = await env.user();
    const k = await newKey(env, alice.token, { name: "k", scopes: ["write"] });
    const del = await env.call("DELETE", "/api/auth/me", {
      token: alice.token,
      body: { password: `pw-${alice.username}-secret` },
    });
    assert.equal(del.status, 204, JSON.stringify(del.body));
    const rows = await env.rt.db.query("select id from api_keys where user_id = $1", [alice.id]);
    assert.deepEqual(rows, []);
    assert.equal((await env.call("GET", "/api/v2/collections", { token: k.key })).status, 401);
  } finally {
    await env.cleanup();
  }
});

Deno.test("no API key reaches a log line, whether accepted, refused or malformed", async () => {
  const lines: string[] = [];
  configureLogging({
    level: "debug",
    format: "json",
    sink: (_level: LogLevel, line: string) => lines.push(line),
  });
  try {
    const env = await createApiTestEnv();
    try {
      // The runtime set its level from LOG_LEVEL: ask for everything again.
      configureLogging({ level: "debug" });
      const alice = await env.user();
      const created = await newKey(env, alice.token, { name: "k", scopes: ["read"] });
      const secret = created.key.slice("sk_sem_".length + 8);
      await env.call("GET", "/api/v2/collections", { token: created.key });
      await env.call("POST", "/api/v2/collections", { token: created.key, body: { name: "x" } });
      await env.call("GET", `/api/v2/collections?token=${created.key}`, { token: created.key });
      await env.call("GET", "/api/v2/collections", { token: created.key.slice(0, -2) + "zz" });
      await env.call("POST", "/mcp", { token: created.key, raw: "{not json" });
      await env.call("DELETE", `/api/v2/api-keys/${created.id}`, { token: alice.token });
      await env.call("GET", "/api/v2/collections", { token: created.key });
      assert.ok(lines.length > 5, `the requests were logged (${lines.length} lines)`);
      const leaked = lines.filter((l) => l.includes(secret));
      assert.deepEqual(leaked, []);
    } finally {
      await env.cleanup();
    }
  } finally {
    configureLogging({
      level: "info",
      format: "pretty",
      sink: (l, s) => (l === "warn" || l === "error" ? console.error(s) : console.log(s)),
    });
  }
});
