import assert from "node:assert/strict";
import {
  createRedis,
  EventKeys,
  EventPublisher,
  getLogger,
  insertOperation,
  KeySpace,
  type Queryable,
  type SqlParam,
} from "@semantik/shared";
import { createTestDb, createTestRedis, waitFor, writeAndPublish } from "@semantik/shared/testing";
import { issueToken } from "../auth/tokens.ts";
import { WsGateway } from "./ws_gateway.ts";
import { CloseCode } from "./socket_session.ts";

const SECRET = "gateway-test-secret-".padEnd(40, "x");

Deno.test("sockets opening together for one operation share the gateway's and the watches' row reads, and each gets its frames", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const keys = new EventKeys(new KeySpace(r.prefix));
  let rowReads = 0;
  const db: Queryable = {
    async query<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]> {
      if (/from operations where id/.test(sql)) rowReads++;
      return await t.db.query<T>(sql, params);
    },
  };
  const readers: ReturnType<typeof createRedis>[] = [];
  const gateway = new WsGateway({
    db,
    redis: r.redis,
    openReader: () => {
      const reader = createRedis(r.target, { name: "gateway-test:hub", blocking: true });
      readers.push(reader);
      return reader;
    },
    keys,
    jwtSecret: SECRET,
    log: getLogger("gateway-test"),
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const id = new URL(req.url).pathname.split("/").pop()!;
    return gateway.accept(req, { route: "operation", operationId: id, since: undefined });
  });
  const sockets: WebSocket[] = [];
  try {
    const user = crypto.randomUUID();
    await t.db.query("insert into users (id, username, password_hash) values ($1, 'g', 'x')", [
      user,
    ]);
    const { token } = await issueToken(SECRET, {
      user: { id: user, username: "g" },
      ttlMinutes: 5,
    });
    const op = await insertOperation(t.db, {
      collectionId: crypto.randomUUID(),
      ownerId: user,
      type: "index",
    });
    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix));
    await writeAndPublish(t.db, pub, op.id, { status: "processing", progress: 10 });
    await writeAndPublish(t.db, pub, op.id, { status: "completed", progress: 100 });
    // 20 clients of the finished operation at once: each gets its two events, then 1000.
    const frames: number[][] = [];
    const closes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const ws = new WebSocket(
        `ws://127.0.0.1:${server.addr.port}/ws/operations/${op.id}?token=${token}`,
      );
      const mine: number[] = [];
      frames.push(mine);
      ws.onmessage = (e) => mine.push(JSON.parse(String(e.data)).event_id);
      ws.onclose = (e) => closes.push(e.code);
      sockets.push(ws);
    }
    await waitFor("every socket closed", () => closes.length === 20, {
      timeoutMs: 5000,
      seen: () => ({ closes, frames }),
    });
    assert.deepEqual(closes, Array(20).fill(CloseCode.normal));
    for (const mine of frames) assert.deepEqual(mine, [1, 2]);
    // The watches replay both events and need no row; the gateway reads each socket's row (owner,
    // existence): one read each would be 20 (2-3 measured together, alone on the machine); half
    // of that at most, whatever the machine is doing.
    assert.ok(rowReads <= 10, `${rowReads} row reads for 20 sockets opening together`);
  } finally {
    for (const ws of sockets) ws.close();
    await gateway.close();
    await server.shutdown();
    for (const reader of readers) reader.disconnect();
    await r.cleanup();
    await t.cleanup();
  }
});
