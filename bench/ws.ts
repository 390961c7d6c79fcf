/**
 * `deno task bench:ws`: live operation progress to many WebSockets, through this API's hub (one
 * Redis reader per process) against two baselines on the same machine, database, Redis, clients
 * and publishers: the seed's design (one Redis reader per socket), and the design a user would
 * pick (`pubsub`: one Redis pub/sub subscriber per process fanning out in memory, no resume; its
 * publishers PUBLISH each event instead of adding it to the streams, and a socket's first frame is
 * the row as it is when the socket opens).
 *
 * SOCKETS sockets for the three modes, then SOCKETS_LARGE for the hub and pub/sub (one Redis
 * connection per socket would need as many connections as sockets: the seed's design is left out
 * there). `kb_per_socket` is the growth of the hub API process's resident memory from before the
 * sockets opened to after all got their first frame, per socket, at SOCKETS_LARGE; `open_s` how long
 * that took, from the first client's start (each client opens its sockets 100 at a time, each
 * hundred once the one before has its first frames: authentication, the row, the replay).
 *
 * Each mode: an API process serves on port 0; SOCKETS clients watch OPERATIONS operations
 * (`/ws/operations/{id}`, spread evenly), held by CLIENTS client processes (the same code in every
 * mode, outside the orchestrator, so a saturated client shows as its CPU figure instead of
 * silently adding latency); PUBLISHERS processes publish progress events of those operations
 * through the real `EventPublisher` (as workers do, at the task context's coalesced rate of RATE
 * events per operation per second) for WARMUP_S + DURATION_S. Each event carries its publish
 * time; a client's receipt time minus that is the latency (same clock: one machine). Only events
 * published in the measured window (after the warm-up) count. After the last publish the clients
 * wait, at most DRAIN_S, for every socket to have its operation's last id. Reported per mode:
 * p50/p99 over the measured window, frames received of those expected (window events times the
 * sockets watching each), frames missing over the whole run (ids a socket never got: a gap, or
 * none after its last by the end of the drain), the Redis connections the API process holds
 * (CLIENT LIST, by the connection names the process gives), and the CPU of the API process, the
 * clients and the publishers over the window (percent of one core, from /proc), and the garbage
 * collections of the API process that fell in the window (V8's `--trace-gc`: how many, the longest
 * pause; a single pause of a few ms moves p99, which is the slowest 1% of frames). The last line is
 * one JSON object.
 *
 * Settings (environment): REDIS_URL (redis://127.0.0.1:6379), DATABASE_URL (the test Postgres;
 * a fresh schema is made and dropped), SOCKETS (1000; 0 skips), SOCKETS_LARGE (10000; 0 skips),
 * OPERATIONS (50), RATE (4), PUBLISHERS (2), CLIENTS (2), WARMUP_S (2), DURATION_S (10), DRAIN_S
 * (15), MODES (hub,baseline,pubsub), ROUNDS (1; with n > 1 every mode runs n times at each size,
 * the order of the modes alternating between rounds, and each figure is that of the mode's round
 * with the median p99: at 10,000 sockets on two cores one run's p99 moves by several times),
 * SERVER_CPUS and CLIENT_CPUS (unset; `taskset -c` lists: the API process and the publishers run on
 * the first, the client processes on the second, so that the clients do not take the API's CPU, as
 * load generators on machines of their own would not; Redis and Postgres are not pinned),
 * PROFILE_DIR (unset; when set, the API process of the hub and pub/sub modes runs under the
 * inspector and a CPU profile of the measured window is written there, with the functions of most
 * self time printed: the inspector's own per-frame events weigh on both modes, so take latencies
 * from runs without it), HEAP_KINDS (0; when n > 0, the API process of those modes runs under the
 * inspector too: the n kinds of object its heap grew by most per socket, from heap snapshots before
 * the sockets open and once all are open, and the n functions that allocated the most in the
 * measured window, from V8's sampling heap profiler; with an inspector attached, Deno reports every
 * WebSocket frame to it, which allocates in `send`). With ROUNDS, a profile's file holds its mode's
 * last round.
 *
 * `--cluster` (a local Redis Cluster started for the run, as `deno task test:cluster` does) or
 * `REDIS_CLUSTER_NODES` (one that runs): the hub alone at SOCKETS, on one node (REDIS_URL) and on
 * the cluster in one run (no baselines, no SOCKETS_LARGE); the Redis connections are counted on
 * every node.
 *
 * Roles of this file: no argument = the orchestrator; `serve hub|baseline|pubsub` = an API
 * process; `publish <first> <count> <mode>` = a publisher process; `client <first> <count> <url>`
 * = a client process.
 */
import type { Cluster, Redis } from "ioredis";
import {
  configureLogging,
  connectPostgres,
  createRedis,
  createRuntime,
  decodeEventEntry,
  eventFromRow,
  EventKeys,
  EventPublisher,
  getOperation,
  insertOperation,
  isCluster,
  KeySpace,
  loadConfig,
  type OperationRow,
  type Queryable,
} from "../shared/mod.ts";
import { issueToken, verifyToken } from "../api/auth/tokens.ts";
import { createServerTestDb } from "../shared/testing/db.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";
import { publishNext } from "../shared/testing/events.ts";
import { buildServices, startApi } from "../api/mod.ts";
import { wrap } from "../tests/helpers/process.ts";
import { startRedisCluster } from "../shared/testing/redis_cluster.ts";
import { type HotFunction, startCpuProfile } from "./_cpu_profile.ts";
import { heapCounts, heapGrowth, startAllocationSampling } from "./_heap_snapshot.ts";
import { percentile } from "./_common.ts";

const num = (name: string, def: number) => Number(Deno.env.get(name) ?? def);
const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
/** Set in a subprocess serving or publishing on a cluster (`--cluster`): its nodes. */
const BENCH_CLUSTER = Deno.env.get("BENCH_REDIS_CLUSTER_NODES") || undefined;
/** Where a subprocess' Redis is: the cluster when told, else REDIS_URL. */
const redisOf = (cluster: string | undefined) =>
  cluster
    ? {
      mode: "cluster" as const,
      nodes: cluster.split(",").map((hp) => {
        const [host, port] = hp.split(":");
        return { host: host!, port: Number(port) };
      }),
      tls: false,
    }
    : REDIS_URL;
const SOCKETS = num("SOCKETS", 1000);
const SOCKETS_LARGE = num("SOCKETS_LARGE", 10_000);
const OPERATIONS = num("OPERATIONS", 50);
const RATE = num("RATE", 4);
const PUBLISHERS = num("PUBLISHERS", 2);
const WARMUP_S = num("WARMUP_S", 2);
const DURATION_S = num("DURATION_S", 10);
const CLIENTS = num("CLIENTS", 2);
const DRAIN_S = num("DRAIN_S", 15);
const PROFILE_DIR = Deno.env.get("PROFILE_DIR") ?? "";
const HEAP_KINDS = num("HEAP_KINDS", 0);
const ROUNDS = num("ROUNDS", 1);
/** CPUs (a `taskset -c` list) for the API process and the publishers; unset: any. */
const SERVER_CPUS = Deno.env.get("SERVER_CPUS") ?? "";
/** More V8 flags (comma-separated) for the API process of every mode. */
const API_V8_FLAGS = Deno.env.get("API_V8_FLAGS") ?? "";
/** CPUs (a `taskset -c` list) for the client processes; unset: any. */
const CLIENT_CPUS = Deno.env.get("CLIENT_CPUS") ?? "";
for (const [name, value, min] of [["HEAP_KINDS", HEAP_KINDS, 0], ["ROUNDS", ROUNDS, 1]] as const) {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `${name} must be an integer of at least ${min}, got ${Deno.env.get(name)}`,
    );
  }
}
const MODES = (Deno.env.get("MODES") ?? "hub,baseline,pubsub").split(",") as Mode[];
/** Linux clock ticks per second (`getconf CLK_TCK`). */
const CLK_TCK = 100;
const JWT_SECRET = "bench-ws-secret-".padEnd(40, "x");
const SELF = new URL(import.meta.url).pathname;
/** Connection names of the API process, per mode (CLIENT LIST filters on them). */
const ROLE = { hub: "benchws-hub", baseline: "benchws-base", pubsub: "benchws-pubsub" } as const;
type Mode = keyof typeof ROLE;

configureLogging({ level: "error" });
const wallMs = () => performance.timeOrigin + performance.now();

const [role, ...args] = Deno.args;
if (role === "serve") await serve(args[0] as Mode);
else if (role === "publish") await publish(Number(args[0]), Number(args[1]), args[2] as Mode);
else if (role === "client") await client(Number(args[0]), Number(args[1]), args[2]!);
else await orchestrate();

/**
 * An API process: this project's (`hub`), the seed's design (`baseline`) or `pubsub`. Its lines for
 * the orchestrator (`listening`, `origin`, `memory`) go to stderr: V8's `--trace-gc` writes to
 * stdout through a buffer of its own, which can split a line of ours written between two of its
 * flushes.
 */
async function serve(mode: Mode): Promise<void> {
  const env = (k: string) => Deno.env.get(k)!;
  reportMemoryOnSignal();
  if (mode === "hub") {
    const config = loadConfig({
      DATABASE_URL: env("BENCH_DB_URL"),
      ...(BENCH_CLUSTER ? { REDIS_CLUSTER_NODES: BENCH_CLUSTER } : { REDIS_URL }),
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
    printOrigin();
    console.error(`listening ${server.url}`);
    Deno.addSignalListener("SIGTERM", async () => {
      await server.close();
      await rt.close();
      Deno.exit(0);
    });
    return;
  }
  const db = connectPostgres(env("BENCH_DB_URL"), { max: 5 });
  const keys = new EventKeys(new KeySpace(env("BENCH_PREFIX")));
  if (mode === "pubsub") return servePubSub(db, env("BENCH_PREFIX"));
  // The seed's WebSocketManager: authenticate, then one Redis connection per socket reading the
  // operation's stream from the start (XREAD BLOCK 5000 COUNT 1) and forwarding each entry.
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
      const redis = createRedis(REDIS_URL, { name: `${ROLE.baseline}:socket`, blocking: true });
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
  printOrigin();
  console.error(`listening http://127.0.0.1:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}

/**
 * The pub/sub baseline: one subscriber connection for the process, one channel for every
 * operation's events, and an in-memory map from operation to its sockets. Authentication as the
 * other modes; the socket's first frame is the row as read when it opens (no replay, no resume).
 */
async function servePubSub(db: ReturnType<typeof connectPostgres>, prefix: string): Promise<void> {
  const watchers = new Map<string, Set<WebSocket>>();
  const sub = createRedis(REDIS_URL, { name: `${ROLE.pubsub}:sub`, blocking: true });
  await sub.subscribe(pubSubChannel(prefix));
  sub.on("message", (_channel: string, text: string) => {
    const id = /"operation_id":"([^"]+)"/.exec(text)?.[1];
    for (const ws of (id && watchers.get(id)) || []) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    }
  });
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
      let set = watchers.get(id);
      if (!set) watchers.set(id, set = new Set());
      set.add(socket);
      socket.onclose = () => {
        set.delete(socket);
        if (set.size === 0) watchers.delete(id);
      };
      socket.send(JSON.stringify({ ...eventFromRow(row), event_id: Number(row.event_seq) }));
    };
    return response;
  });
  printOrigin();
  console.error(`listening http://127.0.0.1:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}

/** Of one mode's rounds, the one whose p99 is the median (the lower of the middle two). */
function medianRun(rounds: ModeResult[] | undefined): ModeResult | undefined {
  if (!rounds?.length) return undefined;
  return [...rounds].sort((a, b) => a.p99 - b.p99)[Math.floor((rounds.length - 1) / 2)];
}

/**
 * `origin <ms>`: when this process' clock started, in ms since the epoch: `--trace-gc` stamps each
 * collection with the ms since then (the JavaScript engine starts a few ms after the process).
 */
function printOrigin(): void {
  console.error(`origin ${performance.timeOrigin}`);
}

/** Collections of a process run with `--trace-gc`, between two wall-clock times (ms). */
function gcPauses(lines: string[], from: number, to: number): { count: number; maxMs: number } {
  const origin = Number(lines.find((l) => l.startsWith("origin "))?.slice(7));
  let count = 0;
  let maxMs = 0;
  if (!Number.isFinite(origin)) return { count: NaN, maxMs: NaN };
  // `[pid:isolate]   13153 ms: Scavenge 67.4 (102.7) -> 44.9 (102.7) MB, pooled: 0.0 MB, 5.26 / 0.00 ms ...`
  const re =
    /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: [^,]+,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms/;
  for (const line of lines) {
    const m = re.exec(line);
    if (!m) continue;
    const at = origin + Number(m[1]);
    if (at < from || at > to) continue;
    count++;
    maxMs = Math.max(maxMs, Number(m[2]));
  }
  return { count, maxMs };
}

/**
 * On SIGUSR2 (not SIGUSR1: since Deno 2.9 that opens the inspector, as in Node): a full garbage
 * collection (the process runs with `--expose-gc`), then a line `memory <n> <heapUsed bytes>`: the
 * live JavaScript heap, where resident memory also holds garbage not collected yet.
 */
function reportMemoryOnSignal(): void {
  let n = 0;
  Deno.addSignalListener("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    console.error(`memory ${++n} ${Deno.memoryUsage().heapUsed}`);
  });
}

/** The live heap of a bench API process after a full collection, in bytes (its n-th report). */
async function heapUsed(server: Role, n: number): Promise<number> {
  Deno.kill(server.child.pid, "SIGUSR2");
  const [, bytes] = await server.waitForLine(new RegExp(`^memory ${n} (\\d+)$`), 60_000);
  return Number(bytes);
}

function pubSubChannel(prefix: string): string {
  return `${prefix}bench:events`;
}

/**
 * A publisher process: progress events for operations [first, first + count), at RATE per second
 * each; through the streams (`EventPublisher`), or PUBLISHed for the pub/sub baseline.
 */
async function publish(first: number, count: number, mode: Mode): Promise<void> {
  const env = (k: string) => Deno.env.get(k)!;
  const db = connectPostgres(env("BENCH_DB_URL"), { max: 4 });
  const redis = createRedis(redisOf(BENCH_CLUSTER), {
    name: "benchws-publisher",
    autoPipelining: false,
  });
  const events = new EventPublisher(redis, new KeySpace(env("BENCH_PREFIX")));
  const ids: string[] = JSON.parse(env("BENCH_OPS")).slice(first, first + count);
  const rows = await Promise.all(ids.map((id) => getOperation(db, id))) as OperationRow[];
  // `measure <wallMs>` on stdin: count the events published from then on.
  let measureFrom = Infinity;
  (async () => {
    for await (const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      const m = /measure ([\d.]+)/.exec(line);
      if (m) measureFrom = Number(m[1]);
    }
  })();
  console.log("ready");
  const end = Date.now() + (WARMUP_S + DURATION_S) * 1000;
  const periodMs = 1000 / RATE;
  const last: Record<string, number> = {};
  let published = 0;
  /** Publish times: those in the measured window are counted once the window's start is known. */
  const times: number[] = [];
  // Operations start spread over one period so events do not all go out at once.
  await Promise.all(rows.map(async (row, i) => {
    await sleep((periodMs * i) / rows.length);
    for (let n = 1; Date.now() < end; n++) {
      const started = performance.now();
      row.progress = n % 100;
      const at = wallMs();
      row.message = `t=${at}`;
      let id: number | undefined;
      if (mode === "pubsub") {
        row.event_seq = Number(row.event_seq) + 1;
        const event = { ...eventFromRow(row), event_id: row.event_seq };
        await redis.publish(pubSubChannel(env("BENCH_PREFIX")), JSON.stringify(event));
        id = row.event_seq;
      } else {
        id = (await publishNext(events, row))?.event_id;
      }
      if (id !== undefined) {
        last[row.id] = id;
        published++;
        times.push(at);
      }
      await sleep(Math.max(0, periodMs - (performance.now() - started)));
    }
  }));
  await db.close();
  redis.disconnect();
  console.log(`window ${times.filter((at) => at >= measureFrom).length}`);
  console.log(`done ${published} ${JSON.stringify(last)}`);
  // Stays until the orchestrator has read its CPU time, then is killed (stdin keeps it alive).
}

interface ModeResult {
  p50: number;
  p99: number;
  /** Resident memory the API process grew by while the sockets opened, in KiB per socket. */
  kbPerSocket: number;
  /** Seconds from the first client's start until every socket had its first frame. */
  openS: number;
  /** Live JavaScript heap (after a full collection) it grew by, in KiB per socket. */
  heapKbPerSocket: number;
  /** Frames of events published in the measured window that reached a client. */
  frames: number;
  /** Events published in the measured window, times the sockets watching their operation. */
  expected: number;
  /** Events a socket never got (a gap in its ids, or none after its last), over the whole run. */
  missing: number;
  /** Events the publishers published over the whole run. */
  published: number;
  redisConns: number;
  connNames: string[];
  /** CPU used over the measured window, in percent of one core. */
  cpu: { api: number; clients: number; publishers: number };
  hot?: HotFunction[];
  /** The API process' garbage collections in the measured window: how many, the longest pause. */
  gc: { count: number; maxMs: number };
}

/** What a client process reports. */
interface ClientResult {
  frames: number;
  expected: number;
  missing: number;
}

/**
 * A client process: sockets [first, first + count) of the run; socket i watches operation
 * `i % operations`. Reads commands on stdin: `measure <wallMs>` (record events published from
 * then on), `finish <json {operation: last id published}>` (wait for every socket to have the
 * last id, at most DRAIN_S, then write the latencies to BENCH_OUT as float64 and print the
 * counts). Each client runs the same code in every mode.
 */
async function client(first: number, count: number, url: string): Promise<void> {
  const env = (k: string) => Deno.env.get(k)!;
  const ops: string[] = JSON.parse(env("BENCH_OPS"));
  const tokens: Record<string, string> = JSON.parse(env("BENCH_TOKENS"));
  /** Per frame with a publish time: when it was published, and its latency. */
  const sentAt: number[] = [];
  const latencies: number[] = [];
  const sockets: { ws: WebSocket; op: string; next: number; gaps: number }[] = [];
  const ready: Promise<void>[] = [];
  for (let i = first; i < first + count; i++) {
    const op = ops[i % ops.length]!;
    const ws = new WebSocket(`${url}/ws/operations/${op}?token=${tokens[op]}`);
    const s = { ws, op, next: 1, gaps: 0 };
    sockets.push(s);
    ready.push(
      new Promise((resolve, reject) => {
        ws.onerror = () => reject(new Error(`socket ${i} failed`));
        ws.onmessage = (e) => {
          const received = wallMs();
          const event = JSON.parse(String(e.data));
          if (event.event_id > s.next) s.gaps += event.event_id - s.next;
          s.next = Math.max(s.next, event.event_id + 1);
          const m = /^t=([\d.]+)$/.exec(event.message ?? "");
          const sent = m ? Number(m[1]) : NaN;
          if (m) {
            sentAt.push(sent);
            latencies.push(received - sent);
          }
          resolve();
        };
      }),
    );
    // Batches, so the listen backlog never overflows.
    if (ready.length % 100 === 0) await Promise.all(ready.slice(-100));
  }
  await Promise.all(ready);
  console.log("open");
  let measureFrom = Infinity;
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [cmd, arg] = buf.slice(0, nl).split(" ", 2);
      buf = buf.slice(nl + 1);
      if (cmd === "measure") measureFrom = Number(arg);
      if (cmd !== "finish") continue;
      const last: Record<string, number> = JSON.parse(arg!);
      const behind = () => sockets.some((s) => s.next <= (last[s.op] ?? 0));
      const deadline = Date.now() + DRAIN_S * 1000;
      while (behind() && Date.now() < deadline) await sleep(50);
      let missing = 0;
      for (const s of sockets) missing += s.gaps + Math.max(0, (last[s.op] ?? 0) - (s.next - 1));
      // Frames of events published in the measured window (warm-up excluded).
      const measured = latencies.filter((_, k) => sentAt[k]! >= measureFrom);
      await Deno.writeFile(env("BENCH_OUT"), new Uint8Array(new Float64Array(measured).buffer));
      const result: ClientResult = { frames: measured.length, expected: 0, missing };
      console.log(`result ${JSON.stringify(result)}`);
    }
  }
}

/** Four users of the bench and a login token of each. */
async function benchUsers(db: Queryable): Promise<{ users: string[]; tokens: string[] }> {
  const users = [0, 1, 2, 3].map(() => crypto.randomUUID());
  for (const id of users) {
    await db.query("insert into users (id, username, password_hash) values ($1, $2, 'x')", [
      id,
      `bench_${id.slice(0, 8)}`,
    ]);
  }
  const tokens = await Promise.all(
    users.map(async (id) =>
      (await issueToken(JWT_SECRET, { user: { id, username: id }, ttlMinutes: 60 })).token
    ),
  );
  return { users, tokens };
}

async function orchestrate(): Promise<void> {
  if (Deno.args.includes("--cluster") || Deno.env.get("REDIS_CLUSTER_NODES")) {
    return await orchestrateCluster();
  }
  const t = await createServerTestDb();
  const admin = createRedis(REDIS_URL, { name: "bench:admin", autoPipelining: false });
  const results = new Map<string, ModeResult[]>();
  try {
    const { users, tokens } = await benchUsers(t.db);
    // Each round runs every mode at each size; the order of the modes alternates between rounds,
    // so that no mode always runs first (or last) on a machine that warms up or gets busier.
    const runs: [Mode, number][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const modes = round % 2 === 0 ? MODES : [...MODES].reverse();
      for (const mode of modes) {
        if (SOCKETS > 0) runs.push([mode, SOCKETS]);
      }
      if (SOCKETS_LARGE > 0) {
        for (const mode of modes) if (mode !== "baseline") runs.push([mode, SOCKETS_LARGE]);
      }
    }
    for (const [mode, sockets] of runs) {
      const prefix = `benchws:${crypto.randomUUID().slice(0, 8)}:`;
      try {
        const r = await runMode({ mode, sockets, dbUrl: t.url!, prefix, users, tokens, admin });
        const key = `${mode}:${sockets}`;
        results.set(key, [...results.get(key) ?? [], r]);
        console.log(
          `${mode.padEnd(8)} sockets=${sockets} p50=${r.p50.toFixed(2)}ms p99=${
            r.p99.toFixed(2)
          }ms frames=${r.frames}/${r.expected} missing=${r.missing} published=${r.published} ` +
            `redis_conns=${r.redisConns} (${summarize(r.connNames)}) kb_per_socket=${
              r.kbPerSocket.toFixed(1)
            } heap_kb_per_socket=${r.heapKbPerSocket.toFixed(1)} open_s=${
              r.openS.toFixed(2)
            } cpu% api=${r.cpu.api} clients=${r.cpu.clients} publishers=${r.cpu.publishers} ` +
            `api_gc=${r.gc.count} (longest ${r.gc.maxMs.toFixed(2)} ms)`,
        );
        for (const h of r.hot ?? []) console.log(`  ${h.selfPercent}% ${h.name}`);
      } finally {
        await deleteByPrefix(admin, prefix);
      }
    }
  } finally {
    admin.disconnect();
    await t.cleanup();
  }
  if (ROUNDS > 1) {
    for (const [key, rs] of results) {
      console.log(
        `${key}: p99 by round ${rs.map((r) => r.p99.toFixed(2)).join(", ")} ms; median ${
          medianRun(rs)!.p99.toFixed(2)
        }`,
      );
    }
  }
  const hub = medianRun(results.get(`hub:${SOCKETS}`));
  const base = medianRun(results.get(`baseline:${SOCKETS}`));
  const pubsub = medianRun(results.get(`pubsub:${SOCKETS}`));
  const hubLarge = medianRun(results.get(`hub:${SOCKETS_LARGE}`));
  const pubsubLarge = medianRun(results.get(`pubsub:${SOCKETS_LARGE}`));
  const r2 = (x: number | undefined) => x === undefined ? null : round(x);
  console.log(JSON.stringify({
    bench: "ws",
    sockets: SOCKETS,
    p50_ms: r2(hub?.p50),
    p99_ms: r2(hub?.p99),
    redis_conns: hub?.redisConns ?? null,
    baseline_p50_ms: r2(base?.p50),
    baseline_p99_ms: r2(base?.p99),
    baseline_redis_conns: base?.redisConns ?? null,
    frames: hub?.frames ?? null,
    expected_frames: hub?.expected ?? null,
    missing: hub?.missing ?? null,
    baseline_frames: base?.frames ?? null,
    baseline_missing: base?.missing ?? null,
    operations: OPERATIONS,
    events_per_op_per_s: RATE,
    duration_s: DURATION_S,
    rounds: ROUNDS,
    pubsub_p50_ms: r2(pubsub?.p50),
    pubsub_p99_ms: r2(pubsub?.p99),
    pubsub_frames: pubsub?.frames ?? null,
    pubsub_missing: pubsub?.missing ?? null,
    sockets_large: SOCKETS_LARGE,
    p99_ms_10k: r2(hubLarge?.p99),
    pubsub_p99_ms_10k: r2(pubsubLarge?.p99),
    missing_10k: hubLarge?.missing ?? null,
    pubsub_missing_10k: pubsubLarge?.missing ?? null,
    kb_per_socket: r2((hubLarge ?? hub)?.kbPerSocket),
    pubsub_kb_per_socket: r2((pubsubLarge ?? pubsub)?.kbPerSocket),
    heap_kb_per_socket: r2((hubLarge ?? hub)?.heapKbPerSocket),
    pubsub_heap_kb_per_socket: r2((pubsubLarge ?? pubsub)?.heapKbPerSocket),
    open_s: r2((hubLarge ?? hub)?.openS),
    pubsub_open_s: r2((pubsubLarge ?? pubsub)?.openS),
    api_cpu_pct: hub?.cpu.api ?? null,
    pubsub_api_cpu_pct: pubsub?.cpu.api ?? null,
    client_cpu_pct: hub?.cpu.clients ?? null,
    pubsub_client_cpu_pct: pubsub?.cpu.clients ?? null,
    client_cpu_pct_10k: hubLarge?.cpu.clients ?? null,
    api_gc_max_ms: r2(hub?.gc.maxMs),
    pubsub_api_gc_max_ms: r2(pubsub?.gc.maxMs),
    api_gc_max_ms_10k: r2(hubLarge?.gc.maxMs),
    pubsub_api_gc_max_ms_10k: r2(pubsubLarge?.gc.maxMs),
    load_avg: Deno.loadavg()[0],
  }));
  Deno.exit(0);
}

/** The hub on one node and on a cluster, in one run (`--cluster` or REDIS_CLUSTER_NODES). */
async function orchestrateCluster(): Promise<void> {
  const fromEnv = Deno.env.get("REDIS_CLUSTER_NODES");
  const local = fromEnv ? undefined : await startRedisCluster();
  const nodes = fromEnv ?? local!.nodesSetting;
  const t = await createServerTestDb();
  const single = createRedis(REDIS_URL, { name: "bench:admin", autoPipelining: false });
  const cluster = createRedis(redisOf(nodes), { name: "bench:admin" });
  const results: Record<string, ModeResult> = {};
  try {
    const { users, tokens } = await benchUsers(t.db);
    console.log(
      `bench:ws hub on one node and on a cluster (${local ? "local" : "REDIS_CLUSTER_NODES"}: ` +
        `${nodes}), sockets=${SOCKETS}`,
    );
    // single, cluster, cluster, single: each topology once early and once late.
    const order: ("single" | "cluster")[] = ["single", "cluster", "cluster", "single"];
    const runs: Record<string, ModeResult[]> = { single: [], cluster: [] };
    for (const topo of order) {
      const admin = topo === "single" ? single : cluster;
      const prefix = `benchws:${crypto.randomUUID().slice(0, 8)}:`;
      try {
        const r = await runMode({
          mode: "hub",
          sockets: SOCKETS,
          dbUrl: t.url!,
          prefix,
          users,
          tokens,
          admin,
          cluster: topo === "cluster" ? nodes : undefined,
        });
        runs[topo]!.push(r);
        console.log(
          `hub ${topo.padEnd(7)} sockets=${SOCKETS} p50=${r.p50.toFixed(2)}ms p99=${
            r.p99.toFixed(2)
          }ms frames=${r.frames} missing=${r.missing} redis_conns=${r.redisConns} (${
            summarize(r.connNames)
          })`,
        );
      } finally {
        await deleteByPrefix(admin, prefix);
      }
    }
    for (const topo of ["single", "cluster"]) {
      // The better of the two runs by p99 (the machine is shared: the worse one is its stall).
      results[topo] = runs[topo]!.sort((a, b) => a.p99 - b.p99)[0]!;
    }
  } finally {
    single.disconnect();
    cluster.disconnect();
    await t.cleanup();
    await local?.stop();
  }
  const s = results.single!;
  const c = results.cluster!;
  console.log(JSON.stringify({
    bench: "ws_topologies",
    sockets: SOCKETS,
    operations: OPERATIONS,
    events_per_op_per_s: RATE,
    duration_s: DURATION_S,
    load_average: Deno.loadavg()[0],
    single_p50_ms: round(s.p50),
    single_p99_ms: round(s.p99),
    single_frames: s.frames,
    single_missing: s.missing,
    single_redis_conns: s.redisConns,
    cluster_p50_ms: round(c.p50),
    cluster_p99_ms: round(c.p99),
    cluster_frames: c.frames,
    cluster_missing: c.missing,
    cluster_redis_conns: c.redisConns,
    cluster_vs_single_p99: round(c.p99 / s.p99),
  }));
  Deno.exit(0);
}

/** Options of {@link runMode}. */
interface RunModeOptions {
  mode: Mode;
  sockets: number;
  dbUrl: string;
  prefix: string;
  users: string[];
  tokens: string[];
  admin: Redis;
  /** `REDIS_CLUSTER_NODES` of the cluster the processes use. @default {undefined: REDIS_URL} */
  cluster?: string;
}

async function runMode(o: RunModeOptions): Promise<ModeResult> {
  const { mode, dbUrl, prefix, users, tokens, admin } = o;
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
    BENCH_TOKENS: JSON.stringify(
      Object.fromEntries(ops.map((op) => [op.id, tokens[users.indexOf(op.owner_id)]!])),
    ),
    REDIS_URL,
    BENCH_REDIS_CLUSTER_NODES: o.cluster ?? "",
    RATE: String(RATE),
    WARMUP_S: String(WARMUP_S),
    DURATION_S: String(DURATION_S),
  };
  const inspect = (PROFILE_DIR || HEAP_KINDS > 0) && mode !== "baseline"
    ? `127.0.0.1:${9300 + MODES.indexOf(mode)}`
    : "";
  const server = spawnRole(["serve", mode], env, [
    `--v8-flags=--expose-gc,--trace-gc${API_V8_FLAGS ? `,${API_V8_FLAGS}` : ""}`,
    ...(inspect ? [`--inspect=${inspect}`] : []),
  ], SERVER_CPUS);
  const publishers: Role[] = [];
  const clients: { proc: Role; out: string }[] = [];
  const stopAll = async () => {
    for (const c of clients) await c.proc.stop("SIGKILL");
    for (const p of publishers) await p.stop("SIGKILL");
    await server.stop("SIGTERM");
  };
  try {
    const [, url] = await server.waitForLine(/^listening (\S+)/);
    const wsUrl = url!.replace(/^http/, "ws");
    const heapBefore = await heapUsed(server, 1);
    const kindsBefore = HEAP_KINDS > 0 && inspect ? await heapCounts(inspect) : undefined;
    const rssBefore = await rssKb(server.child.pid);
    const openStarted = performance.now();
    const per = Math.ceil(o.sockets / CLIENTS);
    for (let c = 0; c * per < o.sockets; c++) {
      const out = await Deno.makeTempFile({ dir: dataDir });
      const count = Math.min(per, o.sockets - c * per);
      const proc = spawnRole(
        ["client", String(c * per), String(count), wsUrl],
        {
          ...env,
          BENCH_OUT: out,
        },
        [],
        CLIENT_CPUS,
      );
      clients.push({ proc, out });
    }
    await Promise.all(
      clients.map((c) => c.proc.waitForLine(/^open$/, Math.max(60_000, o.sockets * 60))),
    );
    const openS = (performance.now() - openStarted) / 1000;
    const kbPerSocket = ((await rssKb(server.child.pid)) - rssBefore) / o.sockets;
    const heapKbPerSocket = ((await heapUsed(server, 2)) - heapBefore) / 1024 / o.sockets;
    if (kindsBefore) {
      const growth = heapGrowth(kindsBefore, await heapCounts(inspect), o.sockets, HEAP_KINDS);
      console.log(`heap kinds per socket, ${mode} at ${o.sockets} (bytes, objects):`);
      for (const g of growth) {
        console.log(
          `  ${g.bytesPerUnit.toFixed(0).padStart(7)} ${
            g.countPerUnit.toFixed(2).padStart(7)
          }  ${g.kind}`,
        );
      }
    }
    const opsPer = Math.ceil(OPERATIONS / PUBLISHERS);
    for (let p = 0; p < PUBLISHERS; p++) {
      publishers.push(
        spawnRole(["publish", String(p * opsPer), String(opsPer), mode], env, [], SERVER_CPUS),
      );
    }
    await Promise.all(publishers.map((p) => p.waitForLine(/^ready$/)));
    const names = await connectionNames(admin, ROLE[mode]);
    await sleep(WARMUP_S * 1000);
    const measureFrom = wallMs();
    for (const p of [...clients.map((c) => c.proc), ...publishers]) {
      await p.write(`measure ${measureFrom}\n`);
    }
    const stopProfile = PROFILE_DIR && inspect ? await startCpuProfile(inspect) : undefined;
    const stopSampling = HEAP_KINDS > 0 && inspect
      ? await startAllocationSampling(inspect)
      : undefined;
    const all = () => [server, ...clients.map((c) => c.proc), ...publishers];
    const cpuBefore = await Promise.all(all().map((p) => cpuTicks(p.child.pid)));
    const cpuFrom = performance.now();
    const done = await Promise.all(
      publishers.map((p) =>
        p.waitForLine(/^done (\d+) (.*)$/, (WARMUP_S + DURATION_S + 60) * 1000)
      ),
    );
    const cpuAfter = await Promise.all(all().map((p) => cpuTicks(p.child.pid)));
    const windowTo = wallMs();
    const seconds = (performance.now() - cpuFrom) / 1000;
    const pct = (from: number, to: number) => {
      let ticks = 0;
      for (let i = from; i < to; i++) ticks += cpuAfter[i]! - cpuBefore[i]!;
      return Math.round((100 * ticks) / CLK_TCK / seconds);
    };
    const hot = stopProfile
      ? await stopProfile(`${PROFILE_DIR}/ws-${mode}-${o.sockets}.cpuprofile`)
      : undefined;
    if (stopSampling) {
      const sites = await stopSampling(HEAP_KINDS);
      const total = sites.reduce((n, s) => n + s.bytes, 0);
      console.log(`allocated in the window, ${mode} at ${o.sockets} (top sites: ${total} bytes):`);
      for (const s of sites) {
        console.log(
          `  ${String(s.bytes).padStart(10)} ${s.percent.toFixed(1).padStart(5)}%  ${s.name}`,
        );
      }
    }
    const last: Record<string, number> = {};
    let published = 0;
    for (const [, n, json] of done) {
      published += Number(n);
      Object.assign(last, JSON.parse(json!));
    }
    const during = await connectionNames(admin, ROLE[mode]);
    for (const c of clients) await c.proc.write(`finish ${JSON.stringify(last)}\n`);
    const reports = await Promise.all(
      clients.map((c) => c.proc.waitForLine(/^result (.*)$/, (DRAIN_S + 60) * 1000)),
    );
    const latencies: number[] = [];
    let frames = 0;
    let missing = 0;
    for (const [i, [, json]] of reports.entries()) {
      const r: ClientResult = JSON.parse(json!);
      frames += r.frames;
      missing += r.missing;
      // Not `push(...)`: at 10,000 sockets a client's latencies pass the call stack's argument limit.
      for (const v of new Float64Array((await Deno.readFile(clients[i]!.out)).buffer)) {
        latencies.push(v);
      }
    }
    // Every event published from the measured window's start, to every socket watching it.
    const expected = Number(
      (await Promise.all(publishers.map((p) => p.waitForLine(/^window (\d+)$/))))
        .reduce((n, [, k]) => n + Number(k), 0),
    ) * (o.sockets / OPERATIONS);
    latencies.sort((a, b) => a - b);
    // The API process' output is complete once it has exited (the engine's trace is buffered).
    await stopAll();
    const gc = gcPauses(server.lines, measureFrom, windowTo);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      kbPerSocket,
      openS,
      heapKbPerSocket,
      frames,
      expected,
      missing,
      published,
      redisConns: Math.max(names.length, during.length),
      connNames: during,
      cpu: {
        api: pct(0, 1),
        clients: pct(1, 1 + clients.length),
        publishers: pct(1 + clients.length, all().length),
      },
      hot,
      gc,
    };
  } finally {
    await stopAll();
    await t.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** A process of this bench: stdin piped (the clients' commands), stdout lines awaited. */
interface Role extends ReturnType<typeof wrap> {
  write(text: string): Promise<void>;
}

function spawnRole(
  args: string[],
  env: Record<string, string>,
  flags: string[] = [],
  cpus = "",
): Role {
  const deno = ["run", "-A", ...flags, SELF, ...args];
  // `taskset` execs the command, so the child's pid is the process measured.
  const child = new Deno.Command(cpus ? "taskset" : Deno.execPath(), {
    args: cpus ? ["-c", cpus, Deno.execPath(), ...deno] : deno,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  return Object.assign(wrap(child), {
    write: (text: string) => writer.write(encoder.encode(text)),
  });
}

/** CPU time (user + system) process `pid` used so far, in clock ticks (Linux). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

/** Resident memory of process `pid`, in KiB (Linux). */
async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
}

async function connectionNames(admin: Redis, role: string): Promise<string[]> {
  // On a cluster, every node's clients (blocking readers wait on masters, commands reach all).
  const nodes = isCluster(admin) ? (admin as unknown as Cluster).nodes("all") : [admin];
  const list = (await Promise.all(nodes.map((n) => n.client("LIST")))).map(String).join("\n");
  return list.split("\n")
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? "")
    .filter((name) => name.startsWith(`${role}:`));
}

function summarize(names: string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${n} x${c}`).join(", ");
}

function round(x: number): number {
  return Number(x.toFixed(2));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
