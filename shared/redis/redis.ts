/**
 * Redis connections. Every key is built here with the configured prefix ({@link KeySpace}):
 * ioredis' `keyPrefix` is not applied to every stream command (XGROUP, for one), so it is never
 * used. Blocking reads (XREADGROUP BLOCK) get a connection of their own.
 */
import { Redis, type RedisOptions as IORedisOptions } from "ioredis";

/** Options of {@link createRedis}. */
export interface RedisConnectionOptions {
  /** CLIENT SETNAME, so connections are visible by role in CLIENT LIST. @default {"semantik"} */
  name?: string;
  /**
   * A connection for blocking commands: commands wait through reconnects instead of failing,
   * and pipelining is off so a blocked read does not hold up others. @default {false}
   */
  blocking?: boolean;
}

/** Reconnect backoff: 50 ms doubling to 2 s, with jitter, forever. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Opens a connection to `url`. */
export function createRedis(url: string, options: RedisConnectionOptions = {}): Redis {
  const { name = "semantik", blocking = false } = options;
  const opts: IORedisOptions = {
    connectionName: name.replace(/[^A-Za-z0-9_:.-]/g, "_"),
    retryStrategy: reconnectDelay,
    // A command on a command connection fails after ~20 reconnect attempts (~30 s of outage)
    // instead of hanging; blocking readers wait for Redis to come back.
    maxRetriesPerRequest: blocking ? null : 20,
    enableAutoPipelining: !blocking,
    // Reconnect on READONLY (failover) too.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
  };
  return new Redis(url, opts);
}

/** Builds every key of the system under one prefix. */
export class KeySpace {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  /** `prefix + parts.join(":")`. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }
}

/** Waits until `redis` answers PING, or rejects after `timeoutMs`. */
export async function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on("error", () => {});
  try {
    await r.connect();
    return (await r.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}
