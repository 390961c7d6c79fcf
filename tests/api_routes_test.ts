// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/** Every REST route's happy path and its error paths, through `app.request()` (docs/API.md). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createApiTestEnv } from "./helpers/api_env.ts";

const isError = (body: any, code: string) =>
  body && typeof body.error === "object" && body.error.code === code &&
  typeof body.error.message === "string" && body.error.message.length > 0;

Deno.test("auth: register, login, me; duplicate, bad input and wrong password", async () => {
  const env = await createApiTestEnv();
  try {
    const reg = await env.call("POST", "/api/auth/register", {
      body: { username: "alice", password: "correct-horse" },
    });
    assert.equal(reg.status, 201);
    assert.equal(reg.body.user.username, "alice");
    assert.match(reg.body.user.id, /^[0-9a-f-]{36}$/);
    assert.ok(!JSON.stringify(reg.body).includes("correct-horse"));

    const dup = await env.call("POST", "/api/auth/register", {
      body: { username: "alice", password: "another-pass" },
    });
    assert.equal(dup.status, 409);
    assert.ok(isError(dup.body, "conflict"));

    const short = await env.call("POST", "/api/auth/register", {
      body: { username: "bob", password: "x" },
    });
    assert.equal(short.status, 400);
    assert.ok(isError(short.body, "invalid_request"));
    assert.ok(Array.isArray(short.body.error.details));

    const login = await env.call("POST", "/api/auth/login", {
      body: { username: "alice", password: "correct-horse" },
    });
    assert.equal(login.status, 200);
    assert.equal(login.body.token_type, "bearer");
    assert.equal(login.body.expires_in, 1440 * 60);
    const me = await env.call("GET", "/api/auth/me", { token: login.body.access_token });
    assert.deepEqual(me.body, { id: reg.body.user.id, username: "alice" });

    const wrong = await env.call("POST", "/api/auth/login", {
      body: { username: "alice", password: "wrong-password" },
    });
    assert.equal(wrong.status, 401);
    assert.ok(isError(wrong.body, "unauthorized"));
    const nobody = await env.call("POST", "/api/auth/login", {
      body: { username: "nobody", password: "wrong-password" },
    });
    assert.equal(nobody.status, 401);
    assert.equal(nobody.body.error.message, wrong.body.error.message);
  } finally {
    await env.cleanup();
  }
});

Deno.test("auth: registration can be closed, and login is rate limited per user", async () => {
  const env = await createApiTestEnv({ env: { ALLOW_REGISTRATION: "false" } });
  try {
    const reg = await env.call("POST", "/api/auth/register", {
      body: { username: "alice", password: "correct-horse" },
    });
    assert.equal(reg.status, 403);
    assert.ok(isError(reg.body, "forbidden"));
    let last;
    for (let i = 0; i < 11; i++) {
      last = await env.call("POST", "/api/auth/login", {
        body: { username: "victim", password: `guess-${i}-xxxx` },
      });
    }
    assert.equal(last!.status, 429);
    assert.ok(isError(last!.body, "rate_limited"));
    assert.ok(Number(last!.headers.get("retry-after")) > 0);
  } finally {
    await env.cleanup();
  }
});

Deno.test("collections: create, list, get, patch, sources, sync, reindex, documents, operations, delete", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    await Deno.writeTextFile(join(env.docs, "a.txt"), "hello world");
    const created = await env.call("POST", "/api/v2/collections", {
      token,
      body: { name: "docs", description: "d", source: { type: "directory", path: env.docs } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const c = created.body.collection;
    assert.equal(c.name, "docs");
    assert.equal(c.embedding_model, "test/tiny-bert");
    assert.equal(c.vector_dim, 32);
    assert.equal(c.chunk_size, 200);
    assert.equal(c.chunk_overlap, 40);
    assert.equal(c.sync_mode, "one_time");
    assert.equal(c.sync_interval_minutes, 60);
    for (const k of ["document_count", "chunk_count", "vector_count"]) assert.equal(c[k], 0);
    assert.equal(c.sources[0].path, await Deno.realPath(env.docs));
    const op = created.body.operation;
    assert.equal(op.type, "index");
    assert.equal(op.status, "pending");
    assert.equal(await env.rt.queues.getJobState(op.id), "waiting");

    const list = await env.call("GET", "/api/v2/collections?limit=10", { token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.collections.map((x: any) => x.id), [c.id]);
    assert.equal(list.body.next_cursor, null);

    const got = await env.call("GET", `/api/v2/collections/${c.id}`, { token });
    assert.equal(got.body.id, c.id);

    const patched = await env.call("PATCH", `/api/v2/collections/${c.id}`, {
      token,
      body: { description: "new", sync_mode: "continuous", sync_interval_minutes: 5 },
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.description, "new");
    assert.equal(patched.body.sync_mode, "continuous");

    // One write operation at a time.
    const busy = await env.call("POST", `/api/v2/collections/${c.id}/sync`, { token });
    assert.equal(busy.status, 409);
    assert.ok(isError(busy.body, "conflict"));

    const ops = await env.call("GET", `/api/v2/collections/${c.id}/operations`, { token });
    assert.deepEqual(ops.body.operations.map((o: any) => o.id), [op.id]);
    const opGet = await env.call("GET", `/api/v2/operations/${op.id}`, { token });
    assert.equal(opGet.body.id, op.id);
    const opList = await env.call(
      "GET",
      `/api/v2/operations?status=pending&collection_id=${c.id}`,
      { token },
    );
    assert.deepEqual(opList.body.operations.map((o: any) => o.id), [op.id]);

    // Cancel the pending index: it ends cancelled at once; a second cancel is a conflict.
    const cancel = await env.call("DELETE", `/api/v2/operations/${op.id}`, { token });
    assert.equal(cancel.status, 202);
    assert.equal(cancel.body.status, "cancelled");
    const again = await env.call("DELETE", `/api/v2/operations/${op.id}`, { token });
    assert.equal(again.status, 409);
    // Retry makes a new operation with the same type and config.
    const retry = await env.call("POST", `/api/v2/operations/${op.id}/retry`, { token });
    assert.equal(retry.status, 202);
    assert.equal(retry.body.operation.type, "index");
    assert.notEqual(retry.body.operation.id, op.id);
    const retryRunning = await env.call(
      "POST",
      `/api/v2/operations/${retry.body.operation.id}/retry`,
      { token },
    );
    assert.equal(retryRunning.status, 409);
    await env.call("DELETE", `/api/v2/operations/${retry.body.operation.id}`, { token });

    const other = join(env.docs, "..", "more");
    await Deno.mkdir(other);
    const src = await env.call("POST", `/api/v2/collections/${c.id}/sources`, {
      token,
      body: { type: "directory", path: other, include: ["*.md"] },
    });
    assert.equal(src.status, 202, JSON.stringify(src.body));
    assert.equal(src.body.operation.type, "append");
    await env.call("DELETE", `/api/v2/operations/${src.body.operation.id}`, { token });

    const rm = await env.call(
      "DELETE",
      `/api/v2/collections/${c.id}/sources/${src.body.source.id}`,
      { token },
    );
    assert.equal(rm.status, 202);
    assert.equal(rm.body.operation.type, "remove_source");
    await env.call("DELETE", `/api/v2/operations/${rm.body.operation.id}`, { token });

    const sync = await env.call("POST", `/api/v2/collections/${c.id}/sync`, { token });
    assert.equal(sync.status, 202);
    assert.equal(sync.body.operation.type, "sync");
    await env.call("DELETE", `/api/v2/operations/${sync.body.operation.id}`, { token });

    const tooBig = await env.call("POST", `/api/v2/collections/${c.id}/reindex`, {
      token,
      body: { chunk_size: 5000 },
    });
    assert.equal(tooBig.status, 422);
    assert.ok(isError(tooBig.body, "chunk_too_large"));
    const reindex = await env.call("POST", `/api/v2/collections/${c.id}/reindex`, {
      token,
      body: { chunk_size: 100, chunk_overlap: 10 },
    });
    assert.equal(reindex.status, 202);
    assert.equal(reindex.body.operation.type, "reindex");
    await env.call("DELETE", `/api/v2/operations/${reindex.body.operation.id}`, { token });

    const docs = await env.call("GET", `/api/v2/collections/${c.id}/documents?status=completed`, {
      token,
    });
    assert.equal(docs.status, 200);
    assert.deepEqual(docs.body, { documents: [], next_cursor: null });

    const del = await env.call("DELETE", `/api/v2/collections/${c.id}`, { token });
    assert.equal(del.status, 202);
    assert.equal(del.body.operation.type, "delete");
    assert.equal(
      (await env.call("GET", `/api/v2/collections/${c.id}`, { token })).body.status,
      "deleting",
    );
  } finally {
    await env.cleanup();
  }
});

Deno.test("collections: validation, paths outside the roots, unknown models, duplicates", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    const cases: [unknown, number, string][] = [
      [{}, 400, "invalid_request"],
      [{ name: "" }, 400, "invalid_request"],
      [{ name: "x", chunk_size: "big" }, 400, "invalid_request"],
      [{ name: "x", unknown_field: 1 }, 400, "invalid_request"],
      [{ name: "x", source: { type: "directory", path: "/etc" } }, 422, "path_not_allowed"],
      [
        { name: "x", source: { type: "directory", path: `${env.docs}/../../..` } },
        422,
        "path_not_allowed",
      ],
      [{ name: "x", source: { type: "s3", path: "/x" } }, 400, "invalid_request"],
      [{ name: "x", embedding_model: "no/such-model" }, 422, "unknown_model"],
      [{ name: "x", chunk_size: 4000 }, 422, "chunk_too_large"],
      [{ name: "x", chunk_size: 50, chunk_overlap: 60 }, 400, "invalid_request"],
    ];
    for (const [body, status, code] of cases) {
      const res = await env.call("POST", "/api/v2/collections", { token, body });
      assert.equal(res.status, status, `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`);
      assert.ok(isError(res.body, code), JSON.stringify(res.body));
    }
    const malformed = await env.call("POST", "/api/v2/collections", { token, raw: '{"name":' });
    assert.equal(malformed.status, 400);
    assert.ok(isError(malformed.body, "invalid_request"));
    const huge = await env.call("POST", "/api/v2/collections", {
      token,
      raw: JSON.stringify({ name: "x", description: "y".repeat(2 * 1024 * 1024) }),
    });
    assert.equal(huge.status, 413);
    assert.ok(isError(huge.body, "payload_too_large"));
    assert.equal(
      (await env.call("POST", "/api/v2/collections", { token, body: { name: "dup" } })).status,
      201,
    );
    assert.equal(
      (await env.call("POST", "/api/v2/collections", { token, body: { name: "dup" } })).status,
      409,
    );
    const badCursor = await env.call("GET", "/api/v2/collections?cursor=zzz", { token });
    assert.equal(badCursor.status, 400);
    const badLimit = await env.call("GET", "/api/v2/collections?limit=0", { token });
    assert.equal(badLimit.status, 400);
    const badId = await env.call("GET", "/api/v2/collections/not-a-uuid", { token });
    assert.equal(badId.status, 400);
    const missing = await env.call("GET", `/api/v2/collections/${crypto.randomUUID()}`, { token });
    assert.equal(missing.status, 404);
    assert.ok(isError(missing.body, "not_found"));
    const unknownRoute = await env.call("GET", "/api/v2/nothing-here", { token });
    assert.equal(unknownRoute.status, 404);
  } finally {
    await env.cleanup();
  }
});

Deno.test("collections: list pages with a cursor", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    for (let i = 0; i < 5; i++) {
      await env.call("POST", "/api/v2/collections", { token, body: { name: `c${i}` } });
    }
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await env.call("GET", `/api/v2/collections?limit=2${q}`, { token });
      names.push(...page.body.collections.map((c: any) => c.name));
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.deepEqual(names, ["c4", "c3", "c2", "c1", "c0"]);
  } finally {
    await env.cleanup();
  }
});

Deno.test("search: validation and an empty result for a user without collections", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    const empty = await env.call("POST", "/api/v2/search", { token, body: { query: "hello" } });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.results, []);
    assert.equal(typeof empty.body.took_ms, "number");
    for (
      const body of [{}, { query: "" }, { query: "x".repeat(1001) }, { query: "x", k: 0 }, {
        query: "x",
        k: 101,
      }]
    ) {
      const res = await env.call("POST", "/api/v2/search", { token, body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    const missing = await env.call("POST", "/api/v2/search", {
      token,
      body: { query: "x", collection_ids: [crypto.randomUUID()] },
    });
    assert.equal(missing.status, 404);
  } finally {
    await env.cleanup();
  }
});

Deno.test("dead letters: empty for a new user; requeue of an unknown id is 404", async () => {
  const env = await createApiTestEnv();
  try {
    const { token } = await env.user();
    const list = await env.call("GET", "/api/v2/dead-letters", { token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { jobs: [] });
    const requeue = await env.call("POST", `/api/v2/dead-letters/${crypto.randomUUID()}/requeue`, {
      token,
    });
    assert.equal(requeue.status, 404);
  } finally {
    await env.cleanup();
  }
});

Deno.test("service routes: healthz, readyz, metrics (with token), openapi, docs", async () => {
  const env = await createApiTestEnv({ env: { METRICS_TOKEN: "m-token" } });
  try {
    assert.equal((await env.call("GET", "/healthz")).status, 200);
    const ready = await env.call("GET", "/readyz");
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(Object.keys(ready.body.checks).sort(), ["database", "redis", "vector_store"]);
    assert.equal((await env.call("GET", "/metrics")).status, 401);
    await env.call("GET", "/healthz");
    const metrics = await env.call("GET", "/metrics", {
      headers: { authorization: "Bearer m-token" },
    });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^# TYPE semantik_http_request_duration_seconds histogram$/m);
    assert.match(metrics.body, /route="\/healthz"/);
    assert.match(metrics.body, /^# TYPE semantik_queue_jobs gauge$/m);
    // Counters end in _total, and only counters do; stock process metrics keep their names.
    assert.match(metrics.body, /^# TYPE semantik_queue_jobs_total counter$/m);
    for (const [, name, type] of metrics.body.matchAll(/^# TYPE (semantik_\S+) (\S+)$/gm)) {
      assert.equal(name.endsWith("_total"), type === "counter", `${name} is a ${type}`);
    }
    assert.match(metrics.body, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.doesNotMatch(metrics.body, /^semantik_process_|^semantik_nodejs_/m);
    const docs = await env.call("GET", "/docs");
    assert.equal(docs.status, 200);
    assert.match(docs.body, /\/api\/v2\/search/);
  } finally {
    await env.cleanup();
  }
});

Deno.test("/openapi.json lists every route in docs/API.md", async () => {
  const env = await createApiTestEnv();
  try {
    const spec = (await env.call("GET", "/openapi.json")).body;
    const expected: [string, string][] = [
      ["post", "/api/auth/register"],
      ["post", "/api/auth/login"],
      ["get", "/api/auth/me"],
      ["post", "/api/v2/collections"],
      ["get", "/api/v2/collections"],
      ["get", "/api/v2/collections/{id}"],
      ["patch", "/api/v2/collections/{id}"],
      ["delete", "/api/v2/collections/{id}"],
      ["post", "/api/v2/collections/{id}/sources"],
      ["delete", "/api/v2/collections/{id}/sources/{source_id}"],
      ["post", "/api/v2/collections/{id}/sync"],
      ["post", "/api/v2/collections/{id}/reindex"],
      ["get", "/api/v2/collections/{id}/documents"],
      ["get", "/api/v2/collections/{id}/operations"],
      ["get", "/api/v2/operations"],
      ["get", "/api/v2/operations/{id}"],
      ["delete", "/api/v2/operations/{id}"],
      ["post", "/api/v2/operations/{id}/retry"],
      ["post", "/api/v2/search"],
      ["get", "/api/v2/dead-letters"],
      ["post", "/api/v2/dead-letters/{id}/requeue"],
    ];
    for (const [method, path] of expected) {
      assert.ok(spec.paths?.[path]?.[method], `${method.toUpperCase()} ${path} missing`);
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("CORS is closed by default and open to configured origins", async () => {
  const closed = await createApiTestEnv();
  try {
    const res = await closed.call("OPTIONS", "/api/v2/collections", {
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  } finally {
    await closed.cleanup();
  }
  const open = await createApiTestEnv({ env: { CORS_ORIGINS: "https://app.example" } });
  try {
    const ok = await open.call("OPTIONS", "/api/v2/collections", {
      headers: { origin: "https://app.example", "access-control-request-method": "GET" },
    });
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    const other = await open.call("OPTIONS", "/api/v2/collections", {
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    assert.notEqual(other.headers.get("access-control-allow-origin"), "https://evil.example");
  } finally {
    await open.cleanup();
  }
});
