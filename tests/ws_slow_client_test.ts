/**
 * Slow clients, with a client that does not read its socket: superseded progress frames are
 * dropped (never status changes or the terminal frame), and past the buffer limit the server
 * closes with 4008 while a fast client of the same user keeps everything. A private Redis takes
 * the large test events.
 */
import assert from "node:assert/strict";
import { hasBinary, startPrivateRedis } from "@semantik/shared";
import { publishNext, waitFor } from "@semantik/shared/testing";
import {
  closeAll,
  connect,
  createWsTestEnv,
  type RawFrame,
  slowClient,
  type WsClient,
  type WsTestEnv,
} from "./ws_env.ts";

/** A long idle timeout: the slow client never answers protocol pings. */
const LIMITS = {
  idleTimeoutS: 600,
  session: { highWaterBytes: 16 * 1024, bufferLimitBytes: 1024 * 1024 },
};
/** Enough to fill the kernel's socket buffers (a few MiB on loopback) several times over. */
const MAX_EVENTS = 500;
const BULK = "x".repeat(64 * 1024);

const serverCloses = async (env: WsTestEnv, code: number) => {
  const text = await env.server.services.metrics.getSingleMetricAsString(
    "semantik_ws_server_closes_total",
  );
  return Number(new RegExp(`code="${code}"} (\\d+)`).exec(text)?.[1] ?? 0);
};
const events = (frames: RawFrame[]) =>
  frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.text));

Deno.test({
  name:
    "a socket that falls behind drops superseded progress frames only, and still ends with 1000",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const redis = await startPrivateRedis();
    let env: WsTestEnv | undefined;
    let slow: Awaited<ReturnType<typeof slowClient>> | undefined;
    try {
      env = await createWsTestEnv({ redisUrl: redis.url, services: { ws: LIMITS } });
      const alice = await env.user();
      const op = await env.newOp(alice.id);
      await env.step(op, { status: "pending", message: "queued" });
      slow = await slowClient(env.wsUrl, `/ws/operations/${op.id}?token=${alice.token}`);
      const ws = env.server.services.ws!;
      await waitFor("the socket", () => ws.openSockets === 1);
      await env.step(op, { status: "processing", message: "started" });
      let published = 2;
      const dropped = async () =>
        Number(
          /semantik_ws_dropped_frames_total{route="operation"} (\d+)/.exec(
            await env!.server.services.metrics.getSingleMetricAsString(
              "semantik_ws_dropped_frames_total",
            ),
          )?.[1] ?? 0,
        );
      // Published as a worker would, without writing the row each time (quicker on a busy machine):
      // each event stands for a write after the two steps above (reservations 1 and 2).
      const running = { ...op, status: "processing" as const, event_seq: 2 };
      while (published < MAX_EVENTS && (await dropped()) < 10) {
        running.progress = Math.floor((published * 99) / MAX_EVENTS);
        running.message = BULK;
        await publishNext(env.events, running);
        published++;
      }
      // The row records the reservations of the writes those events stood for.
      await env.t.db.query("update operations set event_seq = $2 where id = $1", [
        op.id,
        running.event_seq,
      ]);
      await env.step(op, { status: "completed", progress: 100, message: "done" });
      published++;
      const frames = await slow.readUntilClose();
      const got = events(frames);
      const ids = got.map((e) => e.event_id);
      assert.ok(ids.length < published, "some frames were dropped");
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "in order");
      assert.equal(new Set(ids).size, ids.length, "no repeats");
      // Every status change and the terminal frame made it; only same-status progress is missing.
      assert.deepEqual(got.slice(0, 2).map((e) => [e.event_id, e.status]), [[1, "pending"], [
        2,
        "processing",
      ]]);
      assert.equal(got.at(-1).type, "OPERATION_COMPLETED");
      assert.equal(got.at(-1).event_id, published);
      assert.ok(got.slice(2, -1).every((e) => e.type === "OPERATION_PROGRESS"));
      assert.equal(frames.at(-1)!.opcode, 8);
      assert.equal(frames.at(-1)!.code, 1000);
    } finally {
      slow?.close();
      await env?.cleanup();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "a client too slow for the buffer limit is closed with 4008 while a fast one keeps every event",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const redis = await startPrivateRedis();
    let env: WsTestEnv | undefined;
    let slow: Awaited<ReturnType<typeof slowClient>> | undefined;
    const clients: WsClient[] = [];
    try {
      env = await createWsTestEnv({ redisUrl: redis.url, services: { ws: LIMITS } });
      const alice = await env.user();
      const fast = connect(`${env.wsUrl}/ws/operations`, `access_token.${alice.token}`);
      clients.push(fast);
      await fast.opened;
      slow = await slowClient(env.wsUrl, `/ws/operations?token=${alice.token}`);
      // Open sockets are not yet followed: wait until both watches listen and the hub reads (its
      // groups exist). An event published before that is not read by the hub (its groups start
      // after the streams' last entries), and these operations have no rows to snapshot.
      const hub = env.server.services.ws!.hub;
      await waitFor(
        "both watches to listen to a reading hub",
        () =>
          env!.server.services.ws!.openSockets === 2 && hub.listenerCount === 2 &&
          hub.readerCount > 0,
      );
      // Each operation's first frame changes its status: nothing can be dropped. The operations
      // exist only in their events (no rows), so neither socket snapshots any of them.
      const template = { ...(await env.newOp(alice.id)), status: "processing" as const };
      await env.t.db.query("delete from operations where id = $1", [template.id]);
      let published = 0;
      while (published < MAX_EVENTS && (await serverCloses(env, 4008)) === 0) {
        await publishNext(env.events, { ...template, id: crypto.randomUUID(), message: BULK });
        published++;
      }
      assert.equal(await serverCloses(env, 4008), 1);
      const frames = await slow.readUntilClose();
      assert.equal(frames.at(-1)!.opcode, 8);
      assert.equal(frames.at(-1)!.code, 4008);
      assert.ok(events(frames).length < published);
      await fast.waitForFrames(published);
      assert.equal(fast.frames.length, published);
      assert.equal(fast.closeEvent, undefined);
    } finally {
      slow?.close();
      await closeAll(clients);
      await env?.cleanup();
      await redis.stop();
    }
  },
});
