/** One hub per API process: many sockets, the same Redis connections, every event to each. */
import assert from "node:assert/strict";
import { waitFor } from "@semantik/shared/testing";
import { closeAll, connect, createWsTestEnv, type WsClient } from "./ws_env.ts";

const SOCKETS = 200;
const PROGRESS_EVENTS = 20;

Deno.test("200 sockets on one operation each get every event; the API holds the same Redis connections as with one", async () => {
  const env = await createWsTestEnv();
  const clients: WsClient[] = [];
  try {
    const alice = await env.user();
    const op = await env.newOp(alice.id);
    await env.step(op, { status: "processing" });
    const url = `${env.wsUrl}/ws/operations/${op.id}`;
    const first = connect(url, `access_token.${alice.token}`);
    clients.push(first);
    await first.waitForFrames(1);
    // The first frame may come from the replay (the command connection) before the hub's
    // reader has connected: on a cluster its per-partition connections open on their first read.
    const withOne = await waitFor(
      "the hub's Redis connection to show in CLIENT LIST",
      async () => {
        const names = await env.apiConnections();
        return names.includes(`${env.role}:hub`) ? names : undefined;
      },
      { seen: () => env.apiConnections() },
    );
    assert.ok(withOne.length <= 4, withOne.join());

    for (let i = 1; i < SOCKETS; i++) clients.push(connect(url, `access_token.${alice.token}`));
    await Promise.all(clients.map((c) => c.waitForFrames(1)));
    assert.deepEqual(await env.apiConnections(), withOne);
    assert.equal(env.server.services.ws!.openSockets, SOCKETS);

    for (let p = 1; p <= PROGRESS_EVENTS; p++) await env.step(op, { progress: p * 4 });
    await env.step(op, { status: "completed", progress: 100 });
    const codes = await Promise.all(clients.map((c) => c.closed.then((e) => e.code)));
    assert.ok(codes.every((c) => c === 1000), `close codes: ${[...new Set(codes)]}`);
    const expected = Array.from({ length: PROGRESS_EVENTS + 2 }, (_, i) => i + 1);
    for (const c of clients) assert.deepEqual(c.frames.map((f) => f.event_id), expected);
    assert.deepEqual(await env.apiConnections(), withOne);
  } finally {
    await closeAll(clients);
    await env.cleanup();
  }
});
