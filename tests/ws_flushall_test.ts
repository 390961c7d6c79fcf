/** The hub across a Redis FLUSHALL (on a private Redis: the shared one serves other tests). */
import assert from "node:assert/strict";
import { hasBinary, startPrivateRedis } from "@semantik/shared";
import { waitFor } from "@semantik/shared/testing";
import { closeAll, connect, createWsTestEnv, type WsClient } from "./ws_env.ts";

Deno.test({
  name: "after FLUSHALL the hub recovers and new events still arrive, with ids that go on",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const redis = await startPrivateRedis();
    const clients: WsClient[] = [];
    let env: Awaited<ReturnType<typeof createWsTestEnv>> | undefined;
    try {
      env = await createWsTestEnv({ redisUrl: redis.url });
      const alice = await env.user();
      const op = await env.newOp(alice.id);
      await env.step(op, { status: "processing" });
      const one = connect(`${env.wsUrl}/ws/operations/${op.id}`, `access_token.${alice.token}`);
      const all = connect(`${env.wsUrl}/ws/operations`, `access_token.${alice.token}`);
      clients.push(one, all);
      await Promise.all([one.waitForFrames(1), all.waitForFrames(1)]);
      await env.step(op, { progress: 10 });
      await Promise.all([one.waitForFrames(2), all.waitForFrames(2)]);

      await env.redis.flushall();
      await env.step(op, { progress: 20 });
      await env.step(op, { progress: 30 });
      await Promise.all([one.waitForFrames(4), all.waitForFrames(4)]);
      assert.deepEqual(one.frames.map((f) => f.event_id), [1, 2, 3, 4]);
      assert.deepEqual(one.frames.map((f) => f.progress), [0, 10, 20, 30]);
      assert.deepEqual(all.frames.map((f) => [f.type, f.event_id]), [
        ["OPERATION_SNAPSHOT", 1],
        ["OPERATION_PROGRESS", 2],
        ["OPERATION_PROGRESS", 3],
        ["OPERATION_PROGRESS", 4],
      ]);
      const hub = env.server.services.ws!.hub;
      assert.ok(hub.recoveries >= 1);
      await waitFor(
        "the hub's heartbeat key",
        async () => await env!.redis.exists(env!.events.keys.hubHeartbeat(hub.hubId)) === 1,
      );

      // A client joining after the flush resumes from what survived it.
      const late = connect(
        `${env.wsUrl}/ws/operations/${op.id}?since=2`,
        `access_token.${alice.token}`,
      );
      clients.push(late);
      await late.waitForFrames(2);
      await env.step(op, { status: "completed", progress: 100 });
      assert.equal((await late.closed).code, 1000);
      assert.deepEqual(late.frames.map((f) => f.event_id), [3, 4, 5]);
    } finally {
      await closeAll(clients);
      await env?.cleanup();
      await redis.stop();
    }
  },
});
