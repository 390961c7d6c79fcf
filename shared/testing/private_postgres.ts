/**
 * A private Postgres server: its own data directory and port. The test runner starts one when
 * nothing answers at TEST_DATABASE_URL; the chaos scenarios start their own so they may stop and
 * restart it (or crash it) without touching the server other tests use. `initdb` and `pg_ctl`
 * come from PATH or `/usr/lib/postgresql/<version>/bin`; as root the server runs as the `postgres`
 * user (initdb refuses root).
 *
 * ```ts
 * const pg = await startPrivatePostgres();
 * try {
 *   // pg.url: postgres://postgres@127.0.0.1:<port>/semantik
 *   await pg.restart({ mode: "immediate", downMs: 2000 });
 * } finally {
 *   await pg.stop();
 * }
 * ```
 */
import { freePort, hasBinary } from "../redis/private_server.ts";
import { connectPostgres } from "../db/postgres_driver.ts";

/** Options of {@link startPrivatePostgres}. */
export interface PrivatePostgresOptions {
  /** Name of the database created for the system. @default {"semantik"} */
  database?: string;
  /** Most connections the server accepts. @default {200} */
  maxConnections?: number;
}

/** Options of {@link PrivatePostgres.restart}. */
export interface RestartOptions {
  /**
   * `fast`: a clean shutdown that ends every session; `immediate`: no checkpoint, like a crash
   * (recovery runs on start). @default {"fast"}
   */
  mode?: "fast" | "immediate";
  /** How long the server stays down before it starts again, in ms. @default {0} */
  downMs?: number;
}

export interface PrivatePostgres {
  /** URL of the system's database. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (every session ends) and starts it again on the same port and data. */
  restart(options?: RestartOptions): Promise<void>;
  /** Stops the server for good and removes its files. Idempotent. */
  stop(): Promise<void>;
}

/** A Postgres program from PATH or the newest `/usr/lib/postgresql/<version>/bin`; undefined if none. */
export async function findPgBin(name: string): Promise<string | undefined> {
  if (await hasBinary(name)) return name;
  try {
    const versions: string[] = [];
    for await (const e of Deno.readDir("/usr/lib/postgresql")) versions.push(e.name);
    versions.sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const p = `/usr/lib/postgresql/${v}/bin/${name}`;
      try {
        await Deno.stat(p);
        return p;
      } catch { /* next version */ }
    }
  } catch { /* no such directory */ }
  return undefined;
}

/**
 * Runs a Postgres program (initdb, pg_ctl, pg_basebackup), as the `postgres` user when this
 * process is root (the server refuses to run as root); throws with its stderr when it fails.
 */
export async function runPgProgram(cmd: string[]): Promise<void> {
  const asRoot = Deno.uid?.() === 0;
  const [bin, ...args] = asRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const out = await new Deno.Command(bin!, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd.slice(0, 2).join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/**
 * Starts the server of data directory `data` on 127.0.0.1:`port` (socket and log in `dir`, no
 * fsync) with extra `settings` (`-c name=value ...`), and waits until it accepts connections.
 */
export function pgCtlStart(
  pgCtl: string,
  options: { data: string; dir: string; port: number; settings?: string },
): Promise<void> {
  const { data, dir, port, settings = "" } = options;
  return runPgProgram([
    pgCtl,
    "-D",
    data,
    "-w",
    "-t",
    "120",
    "-l",
    `${dir}/log`,
    "-o",
    `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off ${settings}`.trimEnd(),
    "start",
  ]);
}

/** Stops the server of data directory `data` (`fast` or `immediate`) and waits for it. */
export function pgCtlStop(
  pgCtl: string,
  options: { data: string; mode: "fast" | "immediate" },
): Promise<void> {
  return runPgProgram([pgCtl, "-D", options.data, "-w", "-t", "120", "-m", options.mode, "stop"]);
}

/** Whether a private Postgres can start here (its server binaries are installed). */
export async function canStartPrivatePostgres(): Promise<boolean> {
  return (await findPgBin("initdb")) !== undefined && (await findPgBin("pg_ctl")) !== undefined;
}

/** Creates a data directory, starts the server on a free port and creates the database. */
export async function startPrivatePostgres(
  options: PrivatePostgresOptions = {},
): Promise<PrivatePostgres> {
  const { database = "semantik", maxConnections = 200 } = options;
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) {
    throw new TypeError(`Cannot start a private Postgres: bad database name ${database}`);
  }
  const initdb = await findPgBin("initdb");
  const pgCtl = await findPgBin("pg_ctl");
  if (!initdb || !pgCtl) {
    throw new Error(
      "Cannot start a private Postgres: initdb and pg_ctl are not installed (apt install postgresql)",
    );
  }
  const asRoot = Deno.uid?.() === 0;
  const dir = await Deno.makeTempDir({ prefix: "semantik-pg-" });
  const data = `${dir}/data`;
  if (asRoot) await new Deno.Command("chown", { args: ["postgres", dir] }).output();
  const run = runPgProgram;
  const port = await freePort();
  const start = () =>
    pgCtlStart(pgCtl, { data, dir, port, settings: `-c max_connections=${maxConnections}` });
  const halt = (mode: "fast" | "immediate") => pgCtlStop(pgCtl, { data, mode });
  let stopped: Promise<void> | undefined;
  try {
    await run([initdb, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]);
    await start();
    const admin = connectPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
    try {
      await admin.query(`create database ${database}`);
    } finally {
      await admin.close();
    }
  } catch (err) {
    await halt("immediate").catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    async restart({ mode = "fast", downMs = 0 } = {}) {
      if (stopped) throw new Error("Cannot restart the private Postgres: it was stopped");
      await halt(mode);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    stop() {
      stopped ??= (async () => {
        await halt("fast").catch(() => halt("immediate")).catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return stopped;
    },
  };
}
