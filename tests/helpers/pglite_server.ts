/**
 * A PGlite database with pgvector served over the Postgres wire protocol, in a subprocess, for
 * tests where several connections or processes share one database:
 *
 * ```ts
 * const server = await startPgliteServer();
 * try {
 *   const db = connectPostgres(server.url, { max: 4 });
 *   // ...
 * } finally {
 *   await server.stop();
 * }
 * ```
 *
 * Why not `pglite-server` from `@electric-sql/pglite-socket` as is: its multiplexer queues each
 * protocol *message* separately, so the Parse/Bind/Execute/Sync of two connections interleave on
 * the one PGlite session. With two postgres.js connections, parameterised queries then fail with
 * "bind message supplies 2 parameters, but prepared statement "" requires 0" or return another
 * query's rows (measured with pglite-socket 0.2.17: half of 400 concurrent queries went wrong).
 * This server uses the same engine (`PGlite.execProtocolRawStream`, pgvector loaded) with a
 * stricter multiplexer: a connection holds the session from its first message until PGlite says
 * ReadyForQuery with status idle (`I`). So extended-protocol queries, pipelines and explicit
 * transactions of one connection never interleave with another's: each connection sees
 * Postgres' usual semantics, serialised.
 *
 * What still differs from a Postgres server: all connections share one session, so `SET`,
 * prepared statement names and temporary tables are visible to every connection, startup
 * parameters (search_path) are not applied per connection, and a connection that leaves a
 * transaction open blocks the others until it ends it or disconnects (then it is rolled back).
 *
 * Run directly, this file is the server: `deno run -A tests/helpers/pglite_server.ts --port 0`
 * prints one JSON line `{"listening":{"host":...,"port":...}}` on stdout, and stops on SIGTERM,
 * SIGINT, or when its stdin closes (so it never outlives the test process that started it).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Options of {@link startPgliteServer}. */
export interface PgliteServerOptions {
  /** Database directory, or `memory://` for a throwaway database. @default {"memory://"} */
  dataDir?: string;
  /** Address to listen on. @default {"127.0.0.1"} */
  host?: string;
  /** Forward the server's stderr to this process' stderr. @default {false} */
  inheritStderr?: boolean;
}

export interface PgliteServer {
  /** `postgres://postgres:postgres@host:port/postgres` */
  url: string;
  host: string;
  port: number;
  /** The server process' id (benchmarks read its CPU time). */
  pid: number;
  /** Stops the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const THIS_FILE = fileURLToPath(import.meta.url);
const ROOT = join(THIS_FILE, "..", "..", "..");
/** How long a stopping server may take before it is killed. */
const STOP_GRACE_MS = 5_000;

/** Starts a server on a free port and resolves once it accepts connections. */
export async function startPgliteServer(options: PgliteServerOptions = {}): Promise<PgliteServer> {
  const { dataDir = "memory://", host = "127.0.0.1", inheritStderr = false } = options;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      "--config",
      join(ROOT, "deno.json"),
      THIS_FILE,
      "--port",
      "0",
      "--host",
      host,
      "--data-dir",
      dataDir,
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: inheritStderr ? "inherit" : "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let stderrTail = "";
  const stderrDone = inheritStderr ? Promise.resolve() : (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderrTail = (stderrTail + text).slice(-8192);
    }
  })().catch(() => {});

  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdoutDone: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Closing stdin asks the server to stop; the kill is the fallback for a wedged one.
      await stdin.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, STOP_GRACE_MS);
      try {
        await child.status;
      } finally {
        clearTimeout(timer);
      }
      await stdoutDone;
      await stderrDone;
    })();
    return stopping;
  };

  try {
    let pending = "";
    let port: number | undefined;
    while (port === undefined) {
      const { value, done } = await lines.read();
      if (done) {
        await child.status;
        await stderrDone;
        throw new Error(
          `Cannot start the PGlite server: it exited before listening${
            stderrTail ? `: ${stderrTail.trim()}` : ""
          }`,
        );
      }
      pending += value;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as { listening?: { port?: number } };
          if (typeof msg.listening?.port === "number") port = msg.listening.port;
        } catch { /* not our line */ }
      }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    stdoutDone = (async () => {
      while (!(await lines.read()).done) { /* discard */ }
    })().catch(() => {});
    const url = `postgres://postgres:postgres@${host}:${port}/postgres`;
    return { url, host, port, pid: child.pid, stop, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await lines.cancel().catch(() => {});
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The server, when this file is the main module.

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Minimal PGlite surface the server uses. */
interface Engine {
  execProtocolRawStream(
    message: Uint8Array,
    options: { onRawData: (data: Uint8Array) => void },
  ): Promise<void>;
  isInTransaction(): boolean;
  close(): Promise<void>;
}

/**
 * The session lock: at most one connection owns the PGlite session between two idle
 * ReadyForQuery messages. Waiters are served first come, first served.
 */
class SessionLock {
  #holder: number | undefined;
  #waiters: { id: number; resolve: () => void }[] = [];

  get holder(): number | undefined {
    return this.#holder;
  }

  acquire(id: number): Promise<void> {
    if (this.#holder === id) return Promise.resolve();
    if (this.#holder === undefined) {
      this.#holder = id;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ id, resolve }));
  }

  release(id: number): void {
    if (this.#holder !== id) return;
    const next = this.#waiters.shift();
    this.#holder = next?.id;
    next?.resolve();
  }

  /** Drops a disconnected connection's place in the queue. */
  forget(id: number): void {
    this.#waiters = this.#waiters.filter((w) => w.id !== id);
  }
}

/** Follows the backend's message framing across chunks and remembers the last message. */
class OutputTracker {
  #header = new Uint8Array(5);
  #headerLen = 0;
  #remaining = 0;
  lastType = 0;
  /** Transaction status of the last ReadyForQuery: `I`, `T` or `E` (as a char code). */
  lastStatus = 0;
  #inReadyForQuery = false;

  feed(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, data.length - i);
        if (this.#inReadyForQuery && take > 0) this.lastStatus = data[i + take - 1]!;
        this.#remaining -= take;
        i += take;
        continue;
      }
      this.#header[this.#headerLen++] = data[i++]!;
      if (this.#headerLen === 5) {
        const type = this.#header[0]!;
        const len = new DataView(this.#header.buffer).getInt32(1);
        this.lastType = type;
        this.#inReadyForQuery = type === 0x5a; // 'Z'
        this.#remaining = len - 4;
        this.#headerLen = 0;
      }
    }
  }

  get idle(): boolean {
    return this.lastType === 0x5a && this.#remaining === 0 && this.lastStatus === 0x49; // 'I'
  }
}

function int32(buf: Uint8Array, at: number): number {
  return new DataView(buf.buffer, buf.byteOffset + at, 4).getInt32(0);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function message(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

const SYNC = message("S", new Uint8Array());
const ROLLBACK = message("Q", new TextEncoder().encode("ROLLBACK\0"));

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

class Server {
  readonly #engine: Engine;
  readonly #lock = new SessionLock();
  readonly #conns = new Set<Deno.Conn>();
  #nextId = 1;
  /** PGlite runs one call at a time; calls from different connections must not overlap. */
  #engineQueue: Promise<unknown> = Promise.resolve();

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  async serve(listener: Deno.Listener): Promise<void> {
    for await (const conn of listener) {
      this.#conns.add(conn);
      const id = this.#nextId++;
      this.#handle(conn, id)
        .catch(() => {})
        .finally(() => this.#conns.delete(conn));
    }
  }

  closeConnections(): void {
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  #exec(bytes: Uint8Array, tracker?: OutputTracker): Promise<Uint8Array> {
    const run = this.#engineQueue.then(async () => {
      let out: Uint8Array = new Uint8Array(0);
      await this.#engine.execProtocolRawStream(bytes, {
        onRawData: (data) => {
          const copy = data.slice();
          tracker?.feed(copy);
          out = concat(out, copy);
        },
      });
      return out;
    });
    this.#engineQueue = run.catch(() => {});
    return run;
  }

  async #handle(conn: Deno.Conn, id: number): Promise<void> {
    let buf: Uint8Array = new Uint8Array(0);
    let started = false;
    const tracker = new OutputTracker();
    try {
      for await (const chunk of conn.readable) {
        buf = concat(buf, chunk);
        for (;;) {
          if (!started) {
            if (buf.length < 8) break;
            const len = int32(buf, 0);
            const code = int32(buf, 4);
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
              buf = buf.slice(8);
              await writeAll(conn, new TextEncoder().encode("N"));
              continue;
            }
            if (code === CANCEL_REQUEST) return; // PGlite has nothing to cancel.
            if (buf.length < len) break;
            const startup = buf.slice(0, len);
            buf = buf.slice(len);
            await this.#run(conn, id, startup, tracker);
            started = true;
            continue;
          }
          // Every complete message buffered so far goes to PGlite in one call.
          let end = 0;
          let terminate = false;
          while (buf.length - end >= 5) {
            if (buf[end] === 0x58) { // 'X' Terminate
              terminate = true;
              break;
            }
            const len = int32(buf, end + 1);
            if (buf.length - end < 1 + len) break;
            end += 1 + len;
          }
          if (end > 0) {
            const batch = buf.slice(0, end);
            buf = buf.slice(end);
            await this.#run(conn, id, batch, tracker);
          }
          if (terminate) return;
          break;
        }
      }
    } finally {
      this.#lock.forget(id);
      if (this.#lock.holder === id) await this.#abandon(id, tracker);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  async #run(conn: Deno.Conn, id: number, bytes: Uint8Array, tracker: OutputTracker) {
    await this.#lock.acquire(id);
    const out = await this.#exec(bytes, tracker);
    if (tracker.idle) this.#lock.release(id);
    await writeAll(conn, out);
  }

  /** A connection left mid-query or mid-transaction: finish and roll back, then release. */
  async #abandon(id: number, tracker: OutputTracker): Promise<void> {
    try {
      if (tracker.lastType !== 0x5a) await this.#exec(SYNC, tracker);
      if (this.#engine.isInTransaction()) await this.#exec(ROLLBACK, tracker);
    } finally {
      this.#lock.release(id);
    }
  }
}

async function main(args: string[]): Promise<void> {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "data-dir": { type: "string", default: "memory://" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot start the PGlite server: bad --port ${values.port}`);
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { vector } = await import("@electric-sql/pglite-pgvector");
  const db = await PGlite.create({ dataDir: values["data-dir"], extensions: { vector } });
  const listener = Deno.listen({ hostname: values.host, port });
  const server = new Server(db);
  const served = server.serve(listener).catch(() => {});

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      try {
        listener.close();
      } catch { /* closed */ }
      server.closeConnections();
      await served;
      await db.close();
      Deno.exit(0);
    })();
    return stopping;
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
  const addr = listener.addr as Deno.NetAddr;
  console.log(JSON.stringify({ listening: { host: addr.hostname, port: addr.port } }));
  // The parent holds our stdin open; when it closes (stop() or the parent died), stop.
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* ignore input */ }
  })().catch(() => {}).finally(shutdown);
}

if (import.meta.main) {
  main(Deno.args).catch((err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err));
    Deno.exit(1);
  });
}
