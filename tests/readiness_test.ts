/**
 * `/readyz` probes the vector store on every call (issue 18): a pgvector server or a Qdrant that
 * went down after the store's one-time setup, or that accepts connections and never answers, is
 * reported as 503 with the reason, within a few seconds.
 */
import assert from "node:assert/strict";
import { connectPostgres, PgvectorStore, QdrantStore, type VectorStore } from "@semantik/shared";
import { createApiTestEnv } from "./helpers/api_env.ts";
import { startPgliteServer } from "./helpers/pglite_server.ts";
import { startQdrantFake } from "./fakes/qdrant_fake.ts";

async function readyz(vectors: VectorStore, stop: () => Promise<void>) {
  const env = await createApiTestEnv({ vectors });
  try {
    const up = await env.call("GET", "/readyz");
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.deepEqual(up.body.checks.vector_store, { ok: true });
    await stop();
    const down = await env.call("GET", "/readyz");
    // And again: a second probe does not lean on the first one's answer either way.
    const again = await env.call("GET", "/readyz");
    return { down, again, database: down.body.checks?.database };
  } finally {
    await env.cleanup();
  }
}

Deno.test("/readyz is 503 with the reason once the pgvector server is stopped", async () => {
  const server = await startPgliteServer();
  const store = new PgvectorStore(connectPostgres(server.url, { max: 2 }), { ownsDb: true });
  try {
    const { down, again, database } = await readyz(store, () => server.stop());
    for (const res of [down, again]) {
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.status, "unavailable");
      assert.equal(res.body.checks.vector_store.ok, false);
      assert.match(res.body.checks.vector_store.reason, /pgvector store cannot reach its database/);
    }
    assert.deepEqual(database, { ok: true }, "only the vector store is down");
  } finally {
    await server.stop();
    await store.close().catch(() => {});
  }
});

Deno.test("/readyz is 503 with the reason once Qdrant is stopped", async () => {
  const fake = await startQdrantFake();
  const store = new QdrantStore({ url: fake.url, retry: { maxAttempts: 1 } });
  try {
    const { down, again } = await readyz(store, () => fake.close());
    for (const res of [down, again]) {
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.checks.vector_store.ok, false);
      assert.match(res.body.checks.vector_store.reason, /Qdrant at .* is not reachable/);
    }
  } finally {
    await fake.close().catch(() => {});
  }
});

Deno.test("a vector store that accepts connections but never answers is not ready, within seconds", async () => {
  // A TCP listener that accepts and then says nothing: neither Postgres nor HTTP answers come.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  try {
    for (
      const store of [
        new QdrantStore({ url: `http://127.0.0.1:${port}`, readyTimeoutMs: 500, timeoutMs: 1000 }),
        new PgvectorStore(connectPostgres(`postgres://x@127.0.0.1:${port}/x`, { max: 1 }), {
          ownsDb: true,
          readyTimeoutMs: 500,
        }),
      ]
    ) {
      const r = await store.ready();
      assert.equal(r.ok, false, store.kind);
      assert.match((r as { reason: string }).reason, /no answer within 500 ms/, store.kind);
      await store.close();
    }
  } finally {
    listener.close();
    for (const c of held) c.close();
    await accepting;
  }
});
