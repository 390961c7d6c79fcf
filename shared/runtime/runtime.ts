/**
 * The process-wide resources every role shares: settings, the database (migrated), a Redis
 * command connection and the key space. Roles (api, worker, scheduler) take a Runtime; `deno task
 * dev` builds one and runs all three roles on it.
 */
import type { Redis } from "ioredis";
import type { Config } from "../config/config.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openDatabase } from "../db/open.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { createRedis, KeySpace } from "../redis/redis.ts";

export interface Runtime {
  readonly config: Config;
  readonly db: Db;
  /** Command connection (auto-pipelined). Blocking readers open their own with `redisFactory`. */
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly log: Logger;
  /** Opens another connection to the configured Redis (e.g. for a blocking reader). */
  redisFactory(name: string, blocking?: boolean): Redis;
  /** Runs `fn` when the runtime closes (last registered, first run). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** Name of the process's role, used for connection names and logs. @default {"semantik"} */
  role?: string;
  /** Use this database instead of opening the configured one (tests). @default {undefined} */
  db?: Db;
  /** Apply pending migrations on start. @default {true} */
  migrate?: boolean;
}

export async function createRuntime(
  config: Config,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const { role = "semantik", migrate: doMigrate = true } = options;
  const log = getLogger(role);
  const ownsDb = options.db === undefined;
  const db = options.db ?? await openDatabase(config.databaseUrl, config.dataDir);
  try {
    if (doMigrate) await migrate(db);
  } catch (err) {
    if (ownsDb) await db.close().catch(() => {});
    throw err;
  }
  const redis = createRedis(config.redisUrl, { name: `${role}:cmd` });
  let redisErrorLogged = false;
  redis.on("error", (err) => {
    // ioredis reconnects by itself; say so once per outage rather than once per attempt.
    if (!redisErrorLogged) log.warn("redis connection error; reconnecting", { err });
    redisErrorLogged = true;
  });
  redis.on("ready", () => {
    if (redisErrorLogged) log.info("redis connection restored");
    redisErrorLogged = false;
  });
  const closers: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  return {
    config,
    db,
    redis,
    keys: new KeySpace(config.redisPrefix),
    log,
    redisFactory(name: string, blocking = false) {
      const r = createRedis(config.redisUrl, { name: `${role}:${name}`, blocking });
      r.on("error", () => {/* reconnects; the owner reports */});
      return r;
    },
    onClose(fn) {
      closers.push(fn);
    },
    close() {
      closing ??= (async () => {
        for (const fn of closers.reverse()) {
          try {
            await fn();
          } catch (err) {
            log.error("error while closing", { err });
          }
        }
        redis.disconnect();
        if (ownsDb) await db.close().catch((err) => log.error("closing database", { err }));
      })();
      return closing;
    },
  };
}
