/**
 * The Postgres driver (postgres.js, vendored with fixes in vendor/postgres, see its PATCHES.md)
 * when the server drops a connection at an awkward moment, as a Postgres restart does to every
 * connection at once: the process must not crash and no query may fail for an old session.
 * Unpatched, postgres.js 3.4.9 throws from a timer callback when a write runs after its socket
 * closed (no caller can catch it: the process dies), rejects a promise nobody handles when a
 * connection drops while it fetches the server's array types (the process dies too), and fails the
 * first query of a new session with the FATAL error that ended the old one.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import postgres from "postgres";
import { connectPostgres } from "@semantik/shared";
import { testDatabaseUrl } from "@semantik/shared/testing";

/**
 * How long a query may take before the test says it never settled: a query and at most one
 * reconnect to the local server take milliseconds; this leaves room for a loaded machine.
 */
const SETTLE_MS = 5_000;

async function settles<T>(what: string, p: Promise<T>): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} never settled within ${SETTLE_MS} ms`)),
      SETTLE_MS,
    );
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ status: "fulfilled", value }) as const,
        (reason) => ({ status: "rejected", reason }) as const,
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a query written to a connection whose socket has closed fails as CONNECTION_CLOSED instead of crashing the process", async () => {
  const url = testDatabaseUrl();
  // postgres.js calls `onclose` once it has handled a connection's close (its socket is gone).
  const closed = Promise.withResolvers<void>();
  const sql = postgres(url, { max: 1, onnotice: () => {}, onclose: () => closed.resolve() });
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // A reserved connection takes the query even after its socket closed (the pool would move
    // it aside), which makes the write-after-close that a close racing a write causes certain.
    const reserved = await sql.reserve();
    const [row] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await admin`select pg_terminate_backend(${row!.pid})`;
    await settles("the client's handling of the terminated connection", closed.promise);
    const query = await settles("the query after the close", reserved`select 1`);
    assert.equal(query.status, "rejected");
    assert.equal(
      (query as PromiseRejectedResult).reason?.code,
      "CONNECTION_CLOSED",
      `the query fails as a closed connection: ${(query as PromiseRejectedResult).reason}`,
    );
    reserved.release();
  } finally {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
  }
});

Deno.test("a connection dropped while it fetches the server's array types fails its query as a connection error, and the next connection works", async () => {
  // A proxy to the test server that resets the client's first connection as soon as the client
  // asks for the array types (postgres.js does on every new connection, before the first query).
  const url = new URL(testDatabaseUrl());
  const sockets = new Set<Socket>();
  let cut = 0;
  const proxy = createServer((client) => {
    sockets.add(client);
    const server = connect(Number(url.port || 5432), url.hostname);
    sockets.add(server);
    client.on("error", () => {});
    server.on("error", () => {});
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
    client.on("data", (chunk: Uint8Array) => {
      if (cut === 0 && new TextDecoder().decode(chunk).includes("typarray")) {
        cut++;
        client.resetAndDestroy();
        server.destroy();
        return;
      }
      server.write(chunk);
    });
    server.on("data", (chunk: Uint8Array) => client.write(chunk));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  // The driver connects through the proxy; the proxy still reaches the server at the old address.
  const viaProxy = new URL(url);
  viaProxy.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const db = connectPostgres(viaProxy.toString(), { max: 1 });
  try {
    // The query waiting for the connection fails as any query on a dropped connection does (the
    // caller can retry it); unpatched, the type fetch's own rejection ended the process here.
    const first = await settles("the query", db.query<{ n: number }>("select 41 + 1 as n"));
    assert.equal(cut, 1, "the proxy cut the connection during the type fetch");
    if (first.status === "rejected") {
      assert.match(
        String(first.reason?.code),
        /^(ECONNRESET|CONNECTION_CLOSED)$/,
        String(first.reason),
      );
    } else {
      assert.deepEqual(first.value, [{ n: 42 }]);
    }
    // The next connection fetches the types again: arrays come back parsed.
    const next = await settles("the next query", db.query("select array['a', 'b'] as xs"));
    assert.deepEqual(next, { status: "fulfilled", value: [{ xs: ["a", "b"] }] });
  } finally {
    await db.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

Deno.test("after a running query's connection is terminated, the next query on a new connection succeeds", async () => {
  const url = testDatabaseUrl();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    // A query with a parameter, running when the server ends its session: Postgres sends it a
    // FATAL error (57P01) and closes the connection.
    const running = settles("the running query", sql`select pg_sleep(30), ${1}::int as x`);
    await waitUntilRunning(admin, row!.pid);
    await admin`select pg_terminate_backend(${row!.pid})`;
    assert.equal((await running).status, "rejected", "the running query fails");
    const next = await settles("the next query", sql<{ y: number }[]>`select 7 as y`);
    assert.equal(
      next.status,
      "fulfilled",
      `the old session's FATAL error is not the new session's: ${
        (next as PromiseRejectedResult).reason
      }`,
    );
    assert.deepEqual([...(next as PromiseFulfilledResult<{ y: number }[]>).value], [{ y: 7 }]);
  } finally {
    await sql.end({ timeout: 1 });
    await admin.end({ timeout: 1 });
  }
});

/** Waits (within SETTLE_MS) until backend `pid` runs a statement. */
async function waitUntilRunning(admin: postgres.Sql, pid: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  let state = "";
  while (Date.now() < deadline) {
    const [row] = await admin<{ state: string }[]>`
      select state from pg_stat_activity where pid = ${pid}`;
    state = row?.state ?? "gone";
    if (state === "active") return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(
    `backend ${pid} never ran the query within ${SETTLE_MS} ms (last state: ${state})`,
  );
}
