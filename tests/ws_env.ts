/**
 * A served API for the WebSocket tests: a fresh Postgres schema, a Redis key prefix (or a private
 * Redis), the app on `Deno.serve` at port 0, real WebSocket clients, and a count of the Redis
 * connections the API process holds (by the names its runtime gives them).
 */
import { join } from "node:path";
import type { Redis } from "ioredis";
import {
  createRedis,
  createRuntime,
  EventPublisher,
  insertOperation,
  KeySpace,
  loadConfig,
  masterNodes,
  ModelRegistry,
  openPglite,
  type OperationRow,
  PgvectorStore,
  type Runtime,
} from "@semantik/shared";
import { issueToken } from "../api/auth/tokens.ts";
import {
  createTestDb,
  createTestRedis,
  randomSuffix,
  type TestDb,
  TINY_MODEL_NAME,
  waitFor,
  writeAndPublish,
  writeTinyModel,
} from "@semantik/shared/testing";
import { type ApiServer, buildServices, type BuildServicesOptions, startApi } from "@semantik/api";
import { startWorker } from "@semantik/worker";

export const JWT_SECRET = "ws-test-secret-".padEnd(40, "x");

export interface WsTestEnv {
  t: TestDb;
  rt: Runtime;
  server: ApiServer;
  /** `ws://host:port` of the served app. */
  wsUrl: string;
  redisUrl: string;
  prefix: string;
  /** The role the API runtime runs as; its Redis connections are named `<role>:<what>`. */
  role: string;
  /** A test-side connection (not counted as the API's). */
  redis: Redis;
  /** Publishes like a worker, on the test's own connection. */
  events: EventPublisher;
  /** A directory inside DOCUMENT_ROOTS for sources. */
  docs: string;
  user(): Promise<{ id: string; token: string }>;
  newOp(ownerId: string): Promise<OperationRow>;
  /** Applies `set` to the row, then publishes it, as the task context does. */
  step(op: OperationRow, set?: Partial<OperationRow>): Promise<void>;
  /** Names of the Redis connections the API runtime holds now (on a cluster: each name once). */
  apiConnections(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Options of {@link createWsTestEnv}. */
export interface WsTestEnvOptions {
  /** Redis to use instead of the shared test Redis (a private one for FLUSHALL). @default {none} */
  redisUrl?: string;
  /** Options of the API's services (WebSocket limits). @default {{}} */
  services?: BuildServicesOptions;
  /** Extra settings. @default {{}} */
  env?: Record<string, string>;
  /**
   * Index for real: the tiny model, pgvector on an in-process PGlite, and a worker running every
   * registered handler (a runtime of its own, as another process would have). @default {false}
   */
  indexing?: boolean;
}

export async function createWsTestEnv(options: WsTestEnvOptions = {}): Promise<WsTestEnv> {
  const t = await createTestDb("postgres");
  const sharedRedis = options.redisUrl ? undefined : await createTestRedis();
  const redisUrl = options.redisUrl ?? sharedRedis!.url;
  const prefix = sharedRedis?.prefix ?? `test:${randomSuffix()}:`;
  const redis = sharedRedis?.redis ??
    createRedis(redisUrl, { name: "test:ws", maxRetriesPerRequest: 3 });
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-ws-" }));
  const docs = join(tmp, "docs");
  const modelsDir = join(tmp, "models");
  await Deno.mkdir(docs);
  const role = `wstest_${randomSuffix()}`;
  const config = loadConfig({
    DATA_DIR: join(tmp, "data"),
    // The shared test Redis may be a cluster (`deno task test:cluster`).
    ...(sharedRedis ? sharedRedis.env : { REDIS_URL: redisUrl }),
    REDIS_PREFIX: prefix,
    DOCUMENT_ROOTS: docs,
    MODELS_DIR: modelsDir,
    DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME,
    EMBEDDING_DEVICE: "cpu",
    JWT_SECRET,
    LOG_LEVEL: "error",
    WORKER_SHUTDOWN_TIMEOUT_S: "5",
    ...options.env,
  });
  const closers: (() => Promise<void>)[] = [];
  const shared: { vectors?: PgvectorStore; models?: ModelRegistry } = {};
  if (options.indexing) {
    await writeTinyModel(join(modelsDir, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });
    const vectors = shared.vectors = new PgvectorStore(await openPglite(), { ownsDb: true });
    const models = shared.models = new ModelRegistry({ modelsDir, device: "cpu" });
    closers.push(() => vectors.close(), () => models.close());
  }
  const rt = await createRuntime(config, { role, db: t.db, migrate: false, ...shared });
  closers.unshift(() => rt.close());
  let server: ApiServer | undefined;
  try {
    if (options.indexing) {
      const worker = await createRuntime(config, {
        role: `${role}_worker`,
        db: t.db,
        migrate: false,
        ...shared,
      });
      closers.unshift(() => worker.close());
      await startWorker(worker);
    }
    const services = await buildServices(rt, options.services);
    server = await startApi(rt, { port: 0, hostname: "127.0.0.1", services });
  } catch (err) {
    for (const c of closers) await c();
    throw err;
  }
  const events = new EventPublisher(redis, new KeySpace(prefix));
  return {
    t,
    rt,
    server,
    wsUrl: server.url.replace(/^http/, "ws"),
    redisUrl,
    prefix,
    role,
    redis,
    events,
    docs,
    async user() {
      const id = crypto.randomUUID();
      const username = `u_${id.slice(0, 8)}`;
      await t.db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
        id,
        username,
      ]);
      const { token } = await issueToken(JWT_SECRET, { user: { id, username }, ttlMinutes: 60 });
      return { id, token };
    },
    newOp: (ownerId) =>
      insertOperation(t.db, { collectionId: crypto.randomUUID(), ownerId, type: "index" }),
    async step(op, set = {}) {
      await writeAndPublish(t.db, events, op.id, set);
    },
    async apiConnections() {
      // On a cluster, the API's connections are spread over the masters, and each cluster
      // client connects to another master when it first needs it: there each name counts once.
      const nodes = masterNodes(redis);
      const lists = await Promise.all(nodes.map((n) => n.client("LIST")));
      const names = lists.map(String).join("\n").split("\n")
        .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? "")
        .filter((name) => name.startsWith(`${role}:`))
        .sort();
      return nodes.length > 1 ? [...new Set(names)] : names;
    },
    async cleanup() {
      await server?.close();
      for (const c of closers) await c();
      if (sharedRedis) {
        await sharedRedis.cleanup();
      } else {
        redis.disconnect();
      }
      await t.cleanup();
      await Deno.remove(tmp, { recursive: true });
    },
  };
}

/** A WebSocket client that records frames and how it closed. */
export interface WsClient {
  ws: WebSocket;
  // deno-lint-ignore no-explicit-any
  frames: any[];
  /** Resolves when the socket opened, or rejects when the handshake failed. */
  opened: Promise<void>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** The close, once it happened. */
  closeEvent?: { code: number; reason: string };
  /** Waits until `n` frames arrived. */
  waitForFrames(n: number): Promise<void>;
}

/** A frame without its large fields, for failure messages. */
function frameHead(f: Record<string, unknown>) {
  const { type, event_id, operation_id, status } = f;
  return { type, event_id, operation_id, status };
}

export function connect(url: string, protocols?: string | string[]): WsClient {
  const ws = new WebSocket(url, protocols);
  const client: WsClient = {
    ws,
    frames: [],
    opened: new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`WebSocket to ${url} failed`)), {
        once: true,
      });
    }),
    closed: new Promise((resolve) => {
      ws.addEventListener("close", (e) => {
        client.closeEvent = { code: e.code, reason: e.reason };
        resolve(client.closeEvent);
      }, { once: true });
    }),
    waitForFrames: (n) =>
      waitFor(`${n} frames`, () => client.frames.length >= n, {
        // Counts and the last frames' heads, not whole frames: a test's frames can be large.
        seen: () => ({
          count: client.frames.length,
          last: client.frames.slice(-3).map(frameHead),
          close: client.closeEvent,
        }),
      }).then(() => {}),
  };
  // A failed handshake also rejects `opened`; tests that expect it await it themselves.
  client.opened.catch(() => {});
  ws.addEventListener("message", (e) => client.frames.push(JSON.parse(String(e.data))));
  return client;
}

/** Closes the clients that are still open and waits for their close events. */
export async function closeAll(clients: WsClient[]): Promise<void> {
  for (const c of clients) {
    if (c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING) {
      try {
        c.ws.close();
      } catch { /* closing already */ }
    }
  }
  await Promise.all(clients.map((c) => c.closed));
}

/** A frame as a raw client reads it. */
export interface RawFrame {
  opcode: number;
  text: string;
  /** For a close frame. */
  code?: number;
}

/**
 * A WebSocket client on a bare TCP connection that reads only when told to: a client too slow
 * for the server. It sends the handshake, reads the 101 response, then leaves the socket unread.
 */
export async function slowClient(wsUrl: string, path: string) {
  const u = new URL(wsUrl);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  let buf = new Uint8Array(0);
  const more = async (): Promise<boolean> => {
    const chunk = new Uint8Array(256 * 1024);
    const n = await conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
    return true;
  };
  // The response head; whatever follows it is the first frames.
  for (;;) {
    const end = new TextDecoder().decode(buf).indexOf("\r\n\r\n");
    if (end >= 0) {
      const head = new TextDecoder().decode(buf.subarray(0, end));
      if (!head.startsWith("HTTP/1.1 101")) throw new Error(`Upgrade refused: ${head}`);
      buf = buf.subarray(end + 4);
      break;
    }
    if (!(await more())) throw new Error("Connection closed during the handshake");
  }
  return {
    conn,
    /** The next frame, or undefined at the end of the stream. */
    async nextFrame(): Promise<RawFrame | undefined> {
      for (;;) {
        const frame = parseFrame();
        if (frame) return frame;
        if (!(await more())) return undefined;
      }
    },
    /** Reads every frame up to and including the close frame (or the end of the stream). */
    async readUntilClose(): Promise<RawFrame[]> {
      const frames: RawFrame[] = [];
      for (let f = await this.nextFrame(); f; f = await this.nextFrame()) {
        frames.push(f);
        if (f.opcode === 8) break;
      }
      return frames;
    },
    /** Sends one frame, masked as a client must (opcode 1 text, 10 pong). */
    async send(opcode: number, payload = new Uint8Array(0)): Promise<void> {
      if (payload.length > 125) throw new RangeError("slowClient sends small frames only");
      const mask = crypto.getRandomValues(new Uint8Array(4));
      const frame = new Uint8Array(6 + payload.length);
      frame[0] = 0x80 | opcode;
      frame[1] = 0x80 | payload.length;
      frame.set(mask, 2);
      payload.forEach((b, i) => (frame[6 + i] = b ^ mask[i % 4]!));
      await conn.write(frame);
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };

  function parseFrame(): RawFrame | undefined {
    if (buf.length < 2) return undefined;
    const opcode = buf[0]! & 0x0f;
    let len = buf[1]! & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) return undefined;
      len = (buf[2]! << 8) | buf[3]!;
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) return undefined;
      len = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
      at = 10;
    }
    if (buf.length < at + len) return undefined;
    const payload = buf.subarray(at, at + len);
    buf = buf.subarray(at + len);
    if (opcode === 8) {
      const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : undefined;
      return { opcode, code, text: new TextDecoder().decode(payload.subarray(2)) };
    }
    return { opcode, text: new TextDecoder().decode(payload) };
  }
}
