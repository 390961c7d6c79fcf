/**
 * A private Postgres primary with a streaming read replica, for tests of `DATABASE_READ_URL`.
 * The primary is {@link startPrivatePostgres}'s (initdb's defaults allow replication connections
 * from 127.0.0.1 with trust auth and `wal_level = replica`); the replica is a `pg_basebackup -R`
 * of it, started on a free port as a hot standby. The shared server on 5432 is never touched
 * (its pg_hba has no replication entry). As root, everything runs as the `postgres` user.
 *
 * ```ts
 * const pair = await startPostgresReplicaPair();
 * try {
 *   // write on pair.primary.url, then:
 *   await pair.waitReplayed(OPERATION_MS); // the replica has replayed the primary's WAL
 *   // read on pair.replicaUrl
 * } finally {
 *   await pair.stop();
 * }
 * ```
 */
import { freePort } from "../redis/private_server.ts";
import { connectPostgres } from "../db/postgres_driver.ts";
import {
  findPgBin,
  pgCtlStart,
  pgCtlStop,
  type PrivatePostgres,
  runPgProgram,
  startPrivatePostgres,
} from "./private_postgres.ts";

export interface PostgresReplicaPair {
  primary: PrivatePostgres;
  /** URL of the system's database on the replica. */
  replicaUrl: string;
  replicaPort: number;
  /** Waits until the replica has replayed everything the primary had written when called. */
  waitReplayed(timeoutMs: number): Promise<void>;
  /** Pauses (true) or resumes (false) WAL replay on the replica: it lags until resumed. */
  pauseReplay(paused: boolean): Promise<void>;
  /** Stops the replica (`immediate`: like a crash). */
  stopReplica(): Promise<void>;
  /** Starts the stopped replica again on the same port. */
  startReplica(): Promise<void>;
  /** Stops both servers and removes their files. Idempotent. */
  stop(): Promise<void>;
}

/** Whether a replica pair can start here: initdb, pg_ctl and pg_basebackup are installed. */
export async function canStartPostgresReplica(): Promise<boolean> {
  for (const bin of ["initdb", "pg_ctl", "pg_basebackup"]) {
    if ((await findPgBin(bin)) === undefined) return false;
  }
  return true;
}

/** Starts a private primary and a streaming replica of it. */
export async function startPostgresReplicaPair(
  options: { database?: string } = {},
): Promise<PostgresReplicaPair> {
  const { database = "semantik" } = options;
  const pgCtl = await findPgBin("pg_ctl");
  const basebackup = await findPgBin("pg_basebackup");
  if (!pgCtl || !basebackup) {
    throw new Error("Cannot start a Postgres replica: pg_ctl and pg_basebackup are not installed");
  }
  const asRoot = Deno.uid?.() === 0;
  const run = runPgProgram;
  const primary = await startPrivatePostgres({ database, maxConnections: 50 });
  const dir = await Deno.makeTempDir({ prefix: "semantik-pg-replica-" });
  const data = `${dir}/data`;
  if (asRoot) await new Deno.Command("chown", { args: ["postgres", dir] }).output();
  const port = await freePort();
  const start = () => pgCtlStart(pgCtl, { data, dir, port, settings: "-c hot_standby=on" });
  const halt = (mode: "fast" | "immediate") => pgCtlStop(pgCtl, { data, mode });
  const onPrimary = async <T>(sql: string): Promise<T[]> => {
    const db = connectPostgres(primary.url, { max: 1 });
    try {
      return await db.query<T>(sql);
    } finally {
      await db.close();
    }
  };
  const onReplica = async <T>(sql: string, params: string[] = []): Promise<T[]> => {
    const db = connectPostgres(`postgres://postgres@127.0.0.1:${port}/${database}`, {
      max: 1,
      connectTimeoutS: 3,
    });
    try {
      return await db.query<T>(sql, params);
    } finally {
      await db.close();
    }
  };
  try {
    // -R writes standby.signal and primary_conninfo; -X stream copies the WAL made meanwhile.
    await run([
      basebackup,
      "-h",
      "127.0.0.1",
      "-p",
      String(primary.port),
      "-U",
      "postgres",
      "-D",
      data,
      "-R",
      "-X",
      "stream",
      "--no-sync",
      // An immediate checkpoint: the default spread one waits most of checkpoint_timeout.
      "--checkpoint=fast",
    ]);
    await start();
  } catch (err) {
    await halt("immediate").catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await primary.stop();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    primary,
    replicaUrl: `postgres://postgres@127.0.0.1:${port}/${database}`,
    replicaPort: port,
    async waitReplayed(timeoutMs) {
      const [{ lsn }] = await onPrimary<{ lsn: string }>(
        "select pg_current_wal_lsn()::text as lsn",
      ) as [{ lsn: string }];
      const deadline = Date.now() + timeoutMs;
      let seen = "nothing";
      while (Date.now() < deadline) {
        try {
          const [row] = await onReplica<{ replayed: string | null; behind: number | null }>(
            `select pg_last_wal_replay_lsn()::text as replayed,
                    pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn())::float8 as behind`,
            [lsn],
          );
          seen = `replayed ${row?.replayed}, ${row?.behind} bytes behind ${lsn}`;
          if (row?.behind !== null && row?.behind !== undefined && row.behind <= 0) return;
        } catch (err) {
          seen = `error: ${(err as Error).message}`;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `The replica did not replay the primary's WAL up to ${lsn} within ${timeoutMs} ms ` +
          `(last seen: ${seen})`,
      );
    },
    async pauseReplay(paused) {
      await onReplica(paused ? "select pg_wal_replay_pause()" : "select pg_wal_replay_resume()");
    },
    stopReplica: () => halt("immediate"),
    startReplica: () => start(),
    stop() {
      stopped ??= (async () => {
        await halt("fast").catch(() => halt("immediate")).catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        await primary.stop();
      })();
      return stopped;
    },
  };
}
