/**
 * `deno task bench:ws`: live operation progress to many WebSockets, through this API's hub (one
 * Redis reader per process) against the seed's design (one Redis reader per socket), on the same
 * machine, database, Redis, clients and publishers.
 *
 * Each mode: an API process serves on port 0; SOCKETS clients (this process) watch OPERATIONS
 * operations (`/ws/operations/{id}`, spread evenly); PUBLISHERS processes publish progress
 * events of those operations through the real `EventPublisher` (as workers do, at the task
 * context's coalesced rate of RATE events per operation per second) for WARMUP_S + DURATION_S.
 * Each event carries its publish time; a client's receipt time minus that is the latency (same
 * clock: one machine). Reported per mode: p50/p99 over the measured window, frames received,
 * frames missing (ids a socket never got), and the Redis connections the API process holds
 * (CLIENT LIST, by the connection names the process gives). The last line is one JSON object.
 *
 * Settings (environment): REDIS_URL (redis://127.0.0.1:6379), DATABASE_URL (the test Postgres;
 * a fresh schema is made and dropped), SOCKETS (1000), OPERATIONS (50), RATE (4), PUBLISHERS (2),
 * WARMUP_S (2), DURATION_S (10).
 *
 * Roles of this file: no argument = the orchestrator; `serve hub|baseline` = an API process;
 * `publish <first> <count>` = a publisher process.
 */
import { Redis } from "ioredis";
import {
  configureLogging,
  connectPostgres,
  createRuntime,
  decodeEventEntry,
  EventKeys,
  EventPublisher,
  getOperation,
  insertOperation,
  issueToken,
  KeySpace,
  loadConfig,
  type OperationRow,
  verifyToken,
} from "../shared/mod.ts";
import { createServerTestDb } from "../shared/testing/db.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";
import { publishNext } from "../shared/testing/events.ts";
import { buildServices, startApi } from "../api/mod.ts";
import { spawnDeno } from "../tests/helpers/process.ts";

const num = (name: string, def: number) => Number(Deno.env.get(name) ?? def);
const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const SOCKETS = num("SOCKETS", 1000);
const OPERATIONS = num("OPERATIONS", 50);
const RATE = num("RATE", 4);
const PUBLISHERS = num("PUBLISHERS", 2);
const WARMUP_S = num("WARMUP_S", 2);
const DURATION_S = num("DURATION_S", 10);
const JWT_SECRET = "bench-ws-secret-".padEnd(40, "x");
const SELF = new URL(import.meta.url).pathname;
/** Connection names of the API process, per mode (CLIENT LIST filters on them). */
const ROLE = { hub: "benchws-hub", baseline: "benchws-base" } as const;
type Mode = keyof typeof ROLE;

configureLogging({ level: "error" });
const wallMs = () => performance.timeOrigin + performance.now();

const [role, ...args] = Deno.args;
if (role === "serve") await serve(args[0] as Mode);
else if (role === "publish") await publish(Number(args[0]), Number(args[1]));
else await orchestrate();

/** An API process: this project's (`hub`) or the seed's design (`baseline`). */
async function serve(mode: Mode): Promise<void> {
  const env = (k: string) => Deno.env.get(k)!;
  if (mode === "hub") {
    const config = loadConfig({
      DATABASE_URL: env("BENCH_DB_URL"),
      REDIS_URL,
      REDIS_PREFIX: env("BENCH_PREFIX"),
      JWT_SECRET,
      DATA_DIR: env("BENCH_DATA_DIR"),
      LOG_LEVEL: "error",
    });
    const rt = await createRuntime(config, { role: ROLE.hub, migrate: false });
    const server = await startApi(rt, {
      port: 0,
      hostname: "127.0.0.1",
      services: await buildServices(rt),
    });
    console.log(`listening ${server.url}`);
    Deno.addSignalListener("SIGTERM", async () => {
      await server.close();
      await rt.close();
      Deno.exit(0);
    });
    return;
  }
  // The seed's WebSocketManager: authenticate, then one Redis connection per socket reading the
  // operation's stream from the start (XREAD BLOCK 5000 COUNT 1) and forwarding each entry.
  const db = connectPostgres(env("BENCH_DB_URL"), { max: 5 });
  const keys = new EventKeys(new KeySpace(env("BENCH_PREFIX")));
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const id = new URL(req.url).pathname.split("/").pop()!;
    const token = new URL(req.url).searchParams.get("token") ?? "";
    const { socket, response } = Deno.upgradeWebSocket(req);
    const claims = await verifyToken(JWT_SECRET, token);
    const row = claims ? await getOperation(db, id) : undefined;
    socket.onopen = () => {
      if (!claims) return socket.close(4001);
      if (!row) return socket.close(4004);
      if (row.owner_id !== claims.sub) return socket.close(4003);
      const redis = new Redis(REDIS_URL, {
        connectionName: `${ROLE.baseline}:socket`,
        maxRetriesPerRequest: null,
      });
      let open = true;
      socket.onclose = () => {
        open = false;
        redis.disconnect();
      };
      (async () => {
        let last = "0";
        while (open) {
          const reply = await redis.xread(
            "COUNT",
            1,
            "BLOCK",
            5000,
            "STREAMS",
            keys.stream(id),
            last,
          )
            .catch(() => null);
          for (const [, entries] of reply ?? []) {
            for (const [entryId, fields] of entries) {
              last = entryId;
              const event = decodeEventEntry(fields);
              if (event && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(event));
            }
          }
        }
      })();
    };
    return response;
  });
  console.log(`listening http://127.0.0.1:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}

/** A publisher process: progress events for operations [first, first + count), at RATE per second each. */
async function publish(first: number, count: number): Promise<void> {
  const env = (k: string) => Deno.env.get(k)!;
  const db = connectPostgres(env("BENCH_DB_URL"), { max: 4 });
  const redis = new Redis(REDIS_URL, { connectionName: "benchws-publisher" });
  const events = new EventPublisher(redis, new KeySpace(env("BENCH_PREFIX")));
  const ids: string[] = JSON.parse(env("BENCH_OPS")).slice(first, first + count);
  const rows = await Promise.all(ids.map((id) => getOperation(db, id))) as OperationRow[];
  console.log("ready");
  const end = Date.now() + (WARMUP_S + DURATION_S) * 1000;
  const periodMs = 1000 / RATE;
  // Operations start spread over one period so events do not all go out at once.
  await Promise.all(rows.map(async (row, i) => {
    await sleep((periodMs * i) / rows.length);
    for (let n = 1; Date.now() < end; n++) {
      const started = performance.now();
      row.progress = n % 100;
      row.message = `t=${wallMs()}`;
      await publishNext(events, row);
      await sleep(Math.max(0, periodMs - (performance.now() - started)));
    }
  }));
  await db.close();
  redis.disconnect();
  console.log("done");
  Deno.exit(0);
}

interface ModeResult {
  p50: number;
  p99: number;
  frames: number;
  missing: number;
  redisConns: number;
  connNames: string[];
}

async function orchestrate(): Promise<void> {
  const t = await createServerTestDb();
  const admin = new Redis(REDIS_URL);
  const results: Partial<Record<Mode, ModeResult>> = {};
  try {
    const users = [0, 1, 2, 3].map(() => crypto.randomUUID());
    for (const id of users) {
      await t.db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
        id,
        `bench_${id.slice(0, 8)}`,
      ]);
    }
    const tokens = await Promise.all(
      users.map(async (id) => (await issueToken(JWT_SECRET, { id, username: id }, 60)).token),
    );
    for (const mode of ["hub", "baseline"] as const) {
      const prefix = `benchws:${crypto.randomUUID().slice(0, 8)}:`;
      try {
        results[mode] = await runMode(mode, t.url!, prefix, users, tokens, admin);
        const r = results[mode]!;
        console.log(
          `${mode.padEnd(8)} sockets=${SOCKETS} p50=${r.p50.toFixed(2)}ms p99=${
            r.p99.toFixed(2)
          }ms frames=${r.frames} missing=${r.missing} redis_conns=${r.redisConns} (${
            summarize(r.connNames)
          })`,
        );
      } finally {
        await deleteByPrefix(admin, prefix);
      }
    }
  } finally {
    admin.disconnect();
    await t.cleanup();
  }
  const hub = results.hub!;
  const base = results.baseline!;
  console.log(JSON.stringify({
    bench: "ws",
    sockets: SOCKETS,
    p50_ms: round(hub.p50),
    p99_ms: round(hub.p99),
    redis_conns: hub.redisConns,
    baseline_p50_ms: round(base.p50),
    baseline_p99_ms: round(base.p99),
    baseline_redis_conns: base.redisConns,
    frames: hub.frames,
    missing: hub.missing,
    baseline_frames: base.frames,
    baseline_missing: base.missing,
    operations: OPERATIONS,
    events_per_op_per_s: RATE,
    duration_s: DURATION_S,
  }));
  Deno.exit(0);
}

async function runMode(
  mode: Mode,
  dbUrl: string,
  prefix: string,
  users: string[],
  tokens: string[],
  admin: Redis,
): Promise<ModeResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "benchws-" });
  const t = connectPostgres(dbUrl, { max: 2 });
  const pub = new EventPublisher(admin, new KeySpace(prefix));
  const ops: OperationRow[] = [];
  for (let i = 0; i < OPERATIONS; i++) {
    const row = await insertOperation(t, {
      collectionId: crypto.randomUUID(),
      ownerId: users[i % users.length]!,
      type: "index",
    });
    await t.query("update operations set status = 'processing' where id = $1", [row.id]);
    row.status = "processing";
    await publishNext(pub, row); // event 1: every socket's first frame, by replay
    ops.push(row);
  }
  const env = {
    BENCH_DB_URL: dbUrl,
    BENCH_PREFIX: prefix,
    BENCH_DATA_DIR: dataDir,
    BENCH_OPS: JSON.stringify(ops.map((o) => o.id)),
    REDIS_URL,
    RATE: String(RATE),
    WARMUP_S: String(WARMUP_S),
    DURATION_S: String(DURATION_S),
  };
  const server = spawnDeno(SELF, { args: ["serve", mode], env });
  const publishers: ReturnType<typeof spawnDeno>[] = [];
  const sockets: WebSocket[] = [];
  try {
    const [, url] = await server.waitForLine(/^listening (\S+)/);
    const wsUrl = url!.replace(/^http/, "ws");
    const latencies: number[] = [];
    let measuring = false;
    let frames = 0;
    let missing = 0;
    const ready: Promise<void>[] = [];
    for (let i = 0; i < SOCKETS; i++) {
      const op = ops[i % ops.length]!;
      const token = tokens[users.indexOf(op.owner_id)]!;
      const ws = new WebSocket(`${wsUrl}/ws/operations/${op.id}?token=${token}`);
      sockets.push(ws);
      let next = 1;
      ready.push(
        new Promise((resolve, reject) => {
          ws.onerror = () => reject(new Error(`socket ${i} failed`));
          ws.onmessage = (e) => {
            const received = wallMs();
            const event = JSON.parse(String(e.data));
            if (event.event_id > next) missing += event.event_id - next;
            next = Math.max(next, event.event_id + 1);
            frames++;
            const m = /^t=([\d.]+)$/.exec(event.message ?? "");
            if (m && measuring) latencies.push(received - Number(m[1]));
            resolve();
          };
        }),
      );
      // Batches, so the listen backlog never overflows.
      if (i % 100 === 99) await Promise.all(ready.slice(-100));
    }
    await Promise.all(ready);
    for (let p = 0; p < PUBLISHERS; p++) {
      const per = Math.ceil(OPERATIONS / PUBLISHERS);
      publishers.push(spawnDeno(SELF, { args: ["publish", String(p * per), String(per)], env }));
    }
    await Promise.all(publishers.map((p) => p.waitForLine(/^ready$/)));
    const names = await connectionNames(admin, ROLE[mode]);
    await sleep(WARMUP_S * 1000);
    measuring = true;
    frames = 0;
    missing = 0;
    await Promise.all(publishers.map((p) => p.waitForLine(/^done$/, (DURATION_S + 60) * 1000)));
    await sleep(500); // the last frames in flight
    measuring = false;
    const during = await connectionNames(admin, ROLE[mode]);
    latencies.sort((a, b) => a - b);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      frames,
      missing,
      redisConns: Math.max(names.length, during.length),
      connNames: during,
    };
  } finally {
    for (const ws of sockets) {
      try {
        ws.close();
      } catch { /* closed */ }
    }
    for (const p of publishers) await p.stop("SIGKILL");
    await server.stop("SIGTERM");
    await t.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function connectionNames(admin: Redis, role: string): Promise<string[]> {
  const list = String(await admin.client("LIST"));
  return list.split("\n")
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? "")
    .filter((name) => name.startsWith(`${role}:`));
}

function summarize(names: string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${n} x${c}`).join(", ");
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function round(x: number): number {
  return Number(x.toFixed(2));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
