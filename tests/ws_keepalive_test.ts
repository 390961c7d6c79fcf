/**
 * Protocol-level keepalive: the server pings a silent socket and keeps it while it answers, and
 * closes one that stops answering. A two-second idle timeout makes it quick (the default is 60 s).
 */
import assert from "node:assert/strict";
import { createWsTestEnv, slowClient } from "./ws_env.ts";

const PING = 9;
const PONG = 10;
const CLOSE = 8;

Deno.test("an idle socket that answers protocol pings stays open; one that stops is closed", async () => {
  const env = await createWsTestEnv({ services: { ws: { idleTimeoutS: 2 } } });
  let client: Awaited<ReturnType<typeof slowClient>> | undefined;
  try {
    const alice = await env.user();
    client = await slowClient(env.wsUrl, `/ws/operations?token=${alice.token}`);
    // Three rounds of ping and pong outlast the idle timeout itself.
    for (let round = 0; round < 3; round++) {
      const frame = await client.nextFrame();
      assert.equal(frame?.opcode, PING, JSON.stringify(frame));
      await client.send(PONG);
    }
    assert.equal(env.server.services.ws!.openSockets, 1);
    // Silence: the next ping goes unanswered and the server gives up on the socket.
    const frames = await client.readUntilClose();
    assert.deepEqual(frames.map((f) => f.opcode), [PING, CLOSE]);
    assert.equal(frames[1]!.code, 1001);
  } finally {
    client?.close();
    await env.cleanup();
  }
});
