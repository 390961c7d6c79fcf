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

Deno.test("auth: production keeps registration closed unless ALLOW_REGISTRATION=true", async () => {
  for (const [setting, status] of [[undefined, 403], ["true", 201]] as const) {
    const env = await createApiTestEnv({
      env: {
        ENVIRONMENT: "production",
        ...(setting === undefined ? {} : { ALLOW_REGISTRATION: setting }),
      },
    });
    try {
      const reg = await env.call("POST", "/api/auth/register", {
        body: { username: "alice", password: "correct-horse" },
      });
      assert.equal(
        reg.status,
        status,
        `ALLOW_REGISTRATION=${setting}: ${JSON.stringify(reg.body)}`,
      );
      if (status === 403) assert.ok(isError(reg.body, "forbidden"));
    } finally {
      await env.cleanup();
    }
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
      [{ name: "x", source: { type: "git", url: "file:///etc" } }, 422, "path_not_allowed"],
      [{ name: "x", source: { type: "git", url: "http://git.example/x" } }, 400, "invalid_request"],
      [
        { name: "x", source: { type: "web", url: "http://127.0.0.1:9/docs/" } },
        422,
        "address_not_allowed",
      ],
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

Deno.test("collections: a Git source with a token is shown with has_token, never the token; a web source with its limits", async () => {
  // No DNS here: the host check (tested with an address above) is off.
  const env = await createApiTestEnv({ env: { SOURCE_ALLOW_PRIVATE_NETWORKS: "true" } });
  try {
    const { token } = await env.user();
    const secret = "glpat-routes-secret-0123";
    const created = await env.call("POST", "/api/v2/collections", {
      token,
      body: {
        name: "g",
        source: { type: "git", url: "https://git.example/team/docs.git", token: secret },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.collection.id;
    const got = await env.call("GET", `/api/v2/collections/${id}`, { token });
    assert.ok(!JSON.stringify(got.body).includes(secret));
    const { created_at, ...source } = got.body.sources[0];
    assert.equal(typeof created_at, "string");
    assert.deepEqual(source, {
      id: source.id,
      type: "git",
      url: "https://git.example/team/docs.git",
      ref: null,
      resolved_ref: null,
      revision: null,
      include: [],
      exclude: [],
      has_token: true,
      listed_at: null,
    });
    const plain = await env.call("POST", "/api/v2/collections", {
      token,
      body: {
        name: "w",
        source: { type: "web", url: "https://docs.example/guide/", max_depth: 2 },
      },
    });
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
    const { created_at: _, id: __, ...w } = plain.body.collection.sources[0];
    assert.deepEqual(w, {
      type: "web",
      url: "https://docs.example/guide/",
      max_pages: 1000,
      max_depth: 2,
      include: [],
      exclude: [],
      has_token: false,
      listed_at: null,
    });
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
    assert.deepEqual(empty.body.lexical_pending, []);
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
      ["get", "/api/v2/collections/{id}/documents/{document_id}"],
      ["get", "/api/v2/collections/{id}/documents/{document_id}/chunks/{chunk_index}"],
      ["post", "/api/v2/api-keys"],
      ["get", "/api/v2/api-keys"],
      ["delete", "/api/v2/api-keys/{id}"],
      ["post", "/api/v2/operations/cancel"],
      ["post", "/api/v2/collections/{id}/sync/pause"],
      ["post", "/api/v2/collections/{id}/sync/resume"],
      ["get", "/api/v2/collections/{id}/sync/runs"],
      ["post", "/api/v2/collections/{id}/documents/{document_id}/retry"],
      ["post", "/api/v2/collections/{id}/documents/retry-failed"],
      ["get", "/api/v2/collections/{id}/documents/{document_id}/content"],
      ["post", "/api/v2/sources/preview"],
      ["get", "/api/v2/models"],
      ["post", "/api/v2/webhooks"],
      ["get", "/api/v2/webhooks"],
      ["delete", "/api/v2/webhooks/{id}"],
      ["get", "/api/v2/webhooks/{id}/deliveries"],
    ];
    for (const [method, path] of expected) {
      assert.ok(spec.paths?.[path]?.[method], `${method.toUpperCase()} ${path} missing`);
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("models: the ones that load, the default marked; a broken folder is left out", async () => {
  const env = await createApiTestEnv();
  try {
    // A folder that looks like a model's but cannot be read as one.
    const broken = join(env.docs, "..", "models", "broken", "model");
    await Deno.mkdir(broken, { recursive: true });
    await Deno.writeTextFile(join(broken, "config.json"), "{not json");
    const { token } = await env.user("alice");
    const res = await env.call("GET", "/api/v2/models", { token });
    assert.equal(res.status, 200);
    // The tiny model (the default here), and the project's default model, always offered (its
    // graphs depend on the shared cache: converted on first use).
    const [real, tiny] = res.body.models;
    assert.equal(res.body.models.length, 2);
    assert.deepEqual(tiny, {
      name: "test/tiny-bert",
      dimension: 32,
      // The tiny model's 256 tokens less its two special ones ([CLS], [SEP]).
      max_chunk_tokens: 254,
      precisions: ["fp32"],
      default: true,
    });
    assert.equal(real.name, "sentence-transformers/all-MiniLM-L6-v2");
    assert.equal(real.dimension, 384);
    assert.equal(real.default, false);
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

Deno.test("paging: 1,000 rows sharing one microsecond timestamp are each listed exactly once", async () => {
  const env = await createApiTestEnv();
  try {
    const { token, id: owner } = await env.user();
    // All rows get one time, as the indexing sink's one statement with now() gives them; the time
    // has microseconds that a millisecond cursor drops. (A literal: a Date or string parameter
    // would reach the server rounded to milliseconds by the driver.)
    const at = "timestamptz '2026-03-04 05:06:07.123456+00'";
    await env.rt.db.query(
      `insert into collections (id, owner_id, name, embedding_model, vector_dim, chunk_size,
                                chunk_overlap, vector_store_name, created_at, updated_at)
       select gen_random_uuid(), $1, 'bulk-' || g, 'm', 4, 200, 40, 'col_bulk_' || g, ${at}, ${at}
         from generate_series(1, 999) g`,
      [owner],
    );
    const made = await env.call("POST", "/api/v2/collections", { token, body: { name: "host" } });
    assert.equal(made.status, 201);
    const col = made.body.collection.id as string;
    await env.rt.db.query(`update collections set created_at = ${at} where id = $1`, [col]);
    await env.rt.db.query(
      `insert into documents (id, collection_id, uri, status, created_at, updated_at)
       select gen_random_uuid(), $1, '/bulk/' || g, 'completed', ${at}, ${at}
         from generate_series(1, 1000) g`,
      [col],
    );
    await env.rt.db.query(
      `insert into operations (id, collection_id, owner_id, type, status, created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'sync', 'completed', ${at}, ${at}
         from generate_series(1, 1000) g`,
      [col, owner],
    );
    const stored = await env.rt.db.query<{ t: string }>(
      `select distinct created_at::text as t from documents where collection_id = $1`,
      [col],
    );
    assert.deepEqual(stored.map((r) => r.t), ["2026-03-04 05:06:07.123456+00"]);
    const expected = async (table: string, column: string, value: string) =>
      (await env.rt.db.query<{ id: string }>(`select id from ${table} where ${column} = $1`, [
        value,
      ])).map((r) => r.id).sort();

    const cases: [string, string, string, string[]][] = [
      [
        "/api/v2/collections",
        "collections",
        "collections",
        await expected("collections", "owner_id", owner),
      ],
      [
        `/api/v2/collections/${col}/documents`,
        "documents",
        "documents",
        await expected("documents", "collection_id", col),
      ],
      [
        `/api/v2/collections/${col}/operations`,
        "operations",
        "collection operations",
        await expected("operations", "collection_id", col),
      ],
      [
        "/api/v2/operations",
        "operations",
        "operations",
        await expected("operations", "owner_id", owner),
      ],
    ];
    for (const [path, key, what, ids] of cases) {
      assert.equal(ids.length, 1000, `${what}: the test set up 1,000 rows`);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const page = await env.call("GET", `${path}?limit=100${q}`, { token });
        assert.equal(page.status, 200, `${what}: ${JSON.stringify(page.body)}`);
        for (const r of page.body[key]) {
          assert.ok(!("cursor_key" in r), `${what}: the cursor key leaked into a row`);
          seen.push(r.id);
        }
        cursor = page.body.next_cursor;
        assert.ok(++pages <= 11, `${what}: more pages than 1,000 rows need`);
      } while (cursor);
      assert.equal(seen.length, 1000, `${what}: listed ${seen.length} rows, not 1,000`);
      assert.deepEqual([...seen].sort(), ids, `${what}: not each row exactly once`);
    }
  } finally {
    await env.cleanup();
  }
});
