// deno-lint-ignore-file no-explicit-any -- tool results and bodies are untyped JSON checked field by field
/**
 * MCP (issue 24) against a served API with a worker and an indexed collection, through the
 * official SDK client: Streamable HTTP at `/mcp` with an API key (tools listed, search results
 * cited by document URI and chunk position, documents, chunks and status read back), refused
 * without a key or with a revoked one; a read key follows an operation over WebSocket but cannot
 * start indexing; and `deno task mcp` (stdio) answers the same tools over the REST API.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { waitFor } from "@semantik/shared/testing";
import { connect, createWsTestEnv, type WsTestEnv } from "./ws_env.ts";

const TOOLS = ["collection_status", "get_chunk", "get_document", "list_collections", "search"];

const FILES: Record<string, string> = {
  "bees.md": "# Honeybees\n\nHoneybees collect nectar from flowers and turn it into honey.",
  "volcano.txt": "Volcanoes erupt when molten rock and gases escape from a magma chamber.",
};

async function http(env: WsTestEnv, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(env.server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined as any };
}

/** A served API with one indexed collection of {@link FILES}, and read and write keys. */
async function indexedEnv() {
  const env = await createWsTestEnv({ indexing: true });
  for (const [name, text] of Object.entries(FILES)) {
    await Deno.writeTextFile(join(env.docs, name), text);
  }
  const user = await env.user();
  const created = await http(env, "POST", "/api/v2/collections", user.token, {
    name: "notes",
    source: { type: "directory", path: env.docs },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const opId = created.body.operation.id;
  // Indexing two tiny files with the tiny model.
  await waitFor("indexing to complete", async () => {
    const op = await http(env, "GET", `/api/v2/operations/${opId}`, user.token);
    assert.notEqual(op.body.status, "failed", JSON.stringify(op.body));
    return op.body.status === "completed";
  }, { timeoutMs: 60_000 });
  const key = async (scopes: string[]) => {
    const res = await http(env, "POST", "/api/v2/api-keys", user.token, { name: "t", scopes });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string; key: string };
  };
  return {
    env,
    user,
    collectionId: created.body.collection.id as string,
    opId: opId as string,
    read: await key(["read"]),
    write: await key(["write"]),
  };
}

async function httpClient(url: string, key?: string) {
  const client = new Client({ name: "semantik-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", url), {
    requestInit: key ? { headers: { authorization: `Bearer ${key}` } } : {},
  });
  await client.connect(transport);
  return client;
}

/** Checks the tools of a connected client against the indexed collection. */
async function checkTools(client: Client, ctx: { collectionId: string; docs: string }) {
  const tools = await client.listTools();
  assert.deepEqual(tools.tools.map((t: { name: string }) => t.name).sort(), TOOLS);
  const search = tools.tools.find((t: { name: string }) => t.name === "search")!;
  assert.deepEqual(search.inputSchema.required, ["query"]);

  const found: any = await client.callTool({
    name: "search",
    arguments: { query: "honeybees nectar", mode: "lexical", k: 5 },
  });
  assert.equal(found.isError, undefined, JSON.stringify(found));
  const beesUri = join(ctx.docs, "bees.md");
  const top = found.structuredContent.results[0];
  assert.equal(top.uri, beesUri);
  assert.equal(top.collection_id, ctx.collectionId);
  assert.equal(top.chunk_index, 0);
  assert.match(top.text, /nectar/);
  assert.ok(
    found.structuredContent.results.every((r: any) => r.uri !== join(ctx.docs, "volcano.txt")),
    "the volcano file has none of the terms",
  );
  // The readable answer cites the document and the chunk.
  assert.ok(found.content[0].text.includes(`[1] ${beesUri}#chunk=0`), found.content[0].text);

  const doc: any = await client.callTool({
    name: "get_document",
    arguments: { collection_id: ctx.collectionId, document_id: top.document_id },
  });
  assert.equal(doc.structuredContent.uri, beesUri);
  assert.ok(
    doc.structuredContent.text.includes("Honeybees collect nectar from flowers and turn it into"),
    doc.structuredContent.text,
  );
  assert.equal(doc.structuredContent.chunk_count, 1, "one short file: one chunk");
  assert.equal(doc.structuredContent.truncated, false);
  assert.equal(doc.structuredContent.status, "completed");
  assert.equal(doc.structuredContent.size_bytes, new TextEncoder().encode(FILES["bees.md"]).length);

  const chunk: any = await client.callTool({
    name: "get_chunk",
    arguments: { collection_id: ctx.collectionId, document_id: top.document_id, chunk_index: 0 },
  });
  assert.equal(chunk.structuredContent.text, top.text);
  assert.equal(chunk.structuredContent.text, doc.structuredContent.text, "the one chunk is all");
  assert.equal(chunk.structuredContent.uri, beesUri);
  const missing: any = await client.callTool({
    name: "get_chunk",
    arguments: { collection_id: ctx.collectionId, document_id: top.document_id, chunk_index: 7 },
  });
  assert.equal(missing.isError, true);
  assert.match(missing.content[0].text, /^not_found: /);

  const cols: any = await client.callTool({ name: "list_collections", arguments: {} });
  assert.deepEqual(cols.structuredContent.collections.map((c: any) => c.id), [ctx.collectionId]);
  assert.equal(cols.structuredContent.collections[0].document_count, 2);

  const status: any = await client.callTool({
    name: "collection_status",
    arguments: { collection_id: ctx.collectionId },
  });
  assert.equal(status.structuredContent.collection.status, "ready");
  assert.equal(status.structuredContent.collection.document_count, 2);
  assert.deepEqual(
    status.structuredContent.operations.map((o: any) => [o.type, o.status]),
    [["index", "completed"]],
  );

  // Inputs are validated.
  const bad: any = await client.callTool({ name: "search", arguments: { query: "" } });
  assert.equal(bad.isError, true);
}

Deno.test("MCP over Streamable HTTP with an API key: tools, cited search, refusals; a read key follows but cannot index", async () => {
  const { env, user, collectionId, opId, read, write } = await indexedEnv();
  try {
    const docs = await Deno.realPath(env.docs);
    const client = await httpClient(env.server.url, read.key);
    try {
      await checkTools(client, { collectionId, docs });
    } finally {
      await client.close();
    }
    // A login token is accepted too.
    const byToken = await httpClient(env.server.url, user.token);
    assert.equal((await byToken.listTools()).tools.length, TOOLS.length);
    await byToken.close();

    // No key, a wrong one: 401 before any MCP message.
    await assert.rejects(() => httpClient(env.server.url), /401|nauthorized/);
    const raw = await fetch(env.server.url + "/mcp", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    assert.equal(raw.status, 401);
    assert.equal((await raw.json()).error.code, "unauthorized");
    // Stateless: no stream to open with GET (405 once authenticated, 401 before).
    const get = await fetch(env.server.url + "/mcp", {
      headers: { accept: "text/event-stream", authorization: `Bearer ${read.key}` },
    });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    const anonymousGet = await fetch(env.server.url + "/mcp");
    assert.equal(anonymousGet.status, 401);
    await anonymousGet.body?.cancel();

    // A read key cannot start indexing; the write key can.
    const sync = await http(env, "POST", `/api/v2/collections/${collectionId}/sync`, read.key);
    assert.equal(sync.status, 403);
    assert.equal(sync.body.error.code, "forbidden");
    const ops = await http(env, "GET", `/api/v2/collections/${collectionId}/operations`, read.key);
    assert.equal(ops.body.operations.length, 1, "no operation was started");
    const synced = await http(env, "POST", `/api/v2/collections/${collectionId}/sync`, write.key);
    assert.equal(synced.status, 202, JSON.stringify(synced.body));

    // A read key follows an operation over WebSocket (subprotocol), to its terminal frame.
    const ws = connect(`${env.wsUrl}/ws/operations/${opId}`, `access_token.${read.key}`);
    await ws.opened;
    assert.equal(ws.ws.protocol, `access_token.${read.key}`);
    await waitFor(
      "the terminal frame",
      () => ws.frames.some((f) => f.type === "OPERATION_COMPLETED" || f.status === "completed"),
    );
    assert.equal((await ws.closed).code, 1000);

    // Revoked: refused over HTTP, MCP and WebSocket.
    const del = await http(env, "DELETE", `/api/v2/api-keys/${read.id}`, user.token);
    assert.equal(del.status, 204);
    await assert.rejects(() => httpClient(env.server.url, read.key), /401|nauthorized/);
    const after = await http(env, "GET", "/api/v2/collections", read.key);
    assert.equal(after.status, 401);
    const refused = connect(`${env.wsUrl}/ws/operations/${opId}`, `access_token.${read.key}`);
    assert.equal((await refused.closed).code, 4001);
  } finally {
    await env.cleanup();
  }
});

Deno.test("deno task mcp serves the same tools over stdio, mapped onto the REST API", async () => {
  const { env, collectionId, read } = await indexedEnv();
  try {
    const docs = await Deno.realPath(env.docs);
    const repo = new URL("..", import.meta.url).pathname;
    const spawn = (apiKey: string) =>
      new StdioClientTransport({
        command: Deno.execPath(),
        args: ["task", "--quiet", "mcp"],
        cwd: repo,
        env: { ...Deno.env.toObject(), SEMANTIK_URL: env.server.url, SEMANTIK_API_KEY: apiKey },
        stderr: "pipe",
      });
    const client = new Client({ name: "semantik-stdio-test", version: "1.0.0" });
    await client.connect(spawn(read.key));
    try {
      await checkTools(client, { collectionId, docs });
    } finally {
      await client.close();
    }

    // A bad key: the tools answer the API's refusal.
    const refused = new Client({ name: "semantik-stdio-test", version: "1.0.0" });
    await refused.connect(spawn(read.key.slice(0, -2) + "zz"));
    try {
      const res: any = await refused.callTool({ name: "list_collections", arguments: {} });
      assert.equal(res.isError, true);
      assert.match(res.content[0].text, /^unauthorized: /);
    } finally {
      await refused.close();
    }

    // Without a key it does not start.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "mcp"],
      cwd: repo,
      env: { SEMANTIK_URL: env.server.url, SEMANTIK_API_KEY: "" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /API key is required/);
    assert.equal(out.stdout.length, 0);
  } finally {
    await env.cleanup();
  }
});
