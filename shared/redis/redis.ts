/**
 * Redis connections: the one factory every role, script and test helper opens Redis with, for a
 * single node, a Redis Cluster or a Sentinel-managed master ({@link RedisTarget}). Every key is
 * built here with the configured prefix ({@link KeySpace}): ioredis' `keyPrefix` is not applied to
 * every stream command (XGROUP, for one), so it is never used. Blocking reads (XREADGROUP BLOCK)
 * get a connection of their own.
 *
 * On a cluster the factory returns an ioredis `Cluster`, typed as `Redis`: key commands, scripts,
 * MULTI and pub/sub route by key slot (every script's keys share a hash tag), MOVED/ASK and
 * failovers are retried by the client. Commands that address a node rather than a key (SCAN,
 * CLIENT, INFO, FLUSHALL) must go to each node: see {@link masterNodes} and {@link nodeForKey}.
 */
import { Cluster, Redis, type RedisOptions as IORedisOptions } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import type { RedisTarget } from "./redis_target.ts";

export type { RedisTarget } from "./redis_target.ts";
import { backoffDelay, resolveBackoff } from "../async/backoff.ts";

/** Options of {@link createRedis}. */
export interface RedisConnectionOptions {
  /** CLIENT SETNAME, so connections are visible by role in CLIENT LIST. @default {"semantik"} */
  name?: string;
  /**
   * A connection for blocking commands: commands wait through reconnects instead of failing,
   * and pipelining is off so a blocked read does not hold up others. @default {false}
   */
  blocking?: boolean;
  /** Connect on the first command rather than now. @default {false} */
  lazyConnect?: boolean;
  /**
   * Fail a command after this many reconnect attempts; `null` waits forever. @default {20, or
   * null for a blocking connection}
   */
  maxRetriesPerRequest?: number | null;
  /** Reconnect delay by attempt, `null` to give up. @default {reconnectDelay} */
  retryStrategy?: (attempt: number) => number | null;
  /** Connect timeout in ms. @default {10000} */
  connectTimeout?: number;
  /** Fail a command that has no reply after this many ms. @default {none} */
  commandTimeout?: number;
  /**
   * Send commands issued in one tick as one pipeline (one node and Sentinel only; never on a
   * cluster). @default {true, false when blocking}
   */
  autoPipelining?: boolean;
}

const RECONNECT_BACKOFF = resolveBackoff({ delayMs: 100, maxDelayMs: 2000, jitter: 0.5 });

/**
 * Keeps a Sentinel client connecting through a failover that ioredis (6.0.0) would end it in.
 * When the sentinels announce a new master while the client is reconnecting from the old one's
 * loss, ioredis' failover detector disconnects the connector while it asks a sentinel for the
 * master; that connect then fails with "Connection is closed.", ioredis rejects every command
 * queued meanwhile with that error and ends the client for good (seen: in the chaos scenario with
 * Sentinel a worker that lost its master to a SIGKILL never came back; in the Sentinel failover
 * test an enqueue made during the failover failed).
 *
 * Here a connect so interrupted while nobody asked for an end starts again, asking the sentinels
 * anew (they now name the new master): the client stays "connecting", and the commands queued
 * meanwhile wait and are sent once it is ready. A connect that `disconnect()` interrupts is not
 * started again: the client ends, as asked. (`quit()` needs no care of its own: while the client
 * is not connected it calls `disconnect()` when nothing is queued, and is queued behind the rest
 * otherwise, ending the connection once the client is connected.)
 */
export function connectThroughFailover(redis: Redis): Redis {
  let asked = false;
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) asked = true;
    disconnect(reconnect);
  };
  // ioredis internals: `connector.connect(emit)` resolves with the stream to the master.
  const connector = (redis as unknown as {
    connector: { connect: (emit: unknown) => Promise<unknown> };
  }).connector;
  const connect = connector.connect.bind(connector);
  connector.connect = async (emit) => {
    for (let interrupted = 0;; interrupted++) {
      // The first interruption is the failover itself: at once; any later one after a backoff.
      if (interrupted > 1) await new Promise((r) => setTimeout(r, reconnectDelay(interrupted - 1)));
      try {
        return await connect(emit);
      } catch (err) {
        if (asked || (err as Error)?.message !== CONNECTION_CLOSED) throw err;
      }
    }
  };
  return redis;
}

/** The error ioredis fails a connect with when its connector was disconnected meanwhile. */
const CONNECTION_CLOSED = "Connection is closed.";

/** Reconnect backoff: 100 ms doubling to 2 s, with jitter (each delay in [d/2, d]), forever. */
export function reconnectDelay(attempt: number): number {
  return backoffDelay(attempt, RECONNECT_BACKOFF);
}

function tlsOptions(target: RedisTarget): ConnectionOptions | undefined {
  if (!target.tls) return undefined;
  return target.tlsCa !== undefined ? { ca: target.tlsCa } : {};
}

/**
 * Opens a connection to `target` (a {@link RedisTarget}, or a `redis://`/`rediss://` URL for one
 * node).
 */
export function createRedis(
  target: RedisTarget | string,
  options: RedisConnectionOptions = {},
): Redis {
  const t: RedisTarget = typeof target === "string"
    ? { mode: "single", url: target, tls: target.startsWith("rediss:") }
    : target;
  const { name = "semantik", blocking = false } = options;
  const common: IORedisOptions = {
    connectionName: name.replace(/[^A-Za-z0-9_:.-]/g, "_"),
    // A command on a command connection fails after ~20 reconnect attempts (~30 s of outage)
    // instead of hanging; blocking readers wait for Redis to come back.
    maxRetriesPerRequest: options.maxRetriesPerRequest !== undefined
      ? options.maxRetriesPerRequest
      : blocking
      ? null
      : 20,
    // Reconnect on READONLY (a failover turned our master into a replica).
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    ...(options.commandTimeout !== undefined ? { commandTimeout: options.commandTimeout } : {}),
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
  };
  const tls = tlsOptions(t);
  const retryStrategy = options.retryStrategy ?? reconnectDelay;
  if (t.mode === "cluster") {
    const cluster = new Cluster(t.nodes, {
      // Slots are refreshed on MOVED and on this interval; commands caught by a failover are
      // retried (every retryDelayOnFailover ms, maxRedirections times: ~10 s) before they fail.
      clusterRetryStrategy: (times) => retryStrategy(times) ?? undefined,
      // Never auto-pipelined: ioredis groups a tick's commands by the slot of their first
      // argument, which for a script call is its key count and for `call("XGROUP", ...)` a
      // subcommand, so commands for different nodes end up in one pipeline and fail ("All keys
      // in the pipeline should belong to the same slots allocation group"). Commands still
      // overlap on each node's connection.
      enableAutoPipelining: false,
      lazyConnect: options.lazyConnect ?? false,
      maxRedirections: 50,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      slotsRefreshInterval: 5000,
      // A loaded node may take a while to answer CLUSTER SLOTS; a refresh that times out is
      // only retried later, but one on connect delays every command.
      slotsRefreshTimeout: 5000,
      // With TLS the certificates name the hosts: keep the names the cluster announces.
      ...(tls
        ? { dnsLookup: (address: string, cb: (e: null, a: string) => void) => cb(null, address) }
        : {}),
      redisOptions: { ...common, ...(tls ? { tls } : {}) },
    });
    return cluster as unknown as Redis;
  }
  const opts: IORedisOptions = {
    ...common,
    retryStrategy,
    enableAutoPipelining: options.autoPipelining ?? !blocking,
    lazyConnect: options.lazyConnect ?? false,
  };
  if (t.mode === "sentinel") {
    return connectThroughFailover(
      new Redis({
        ...opts,
        sentinels: t.sentinels,
        name: t.name,
        role: "master",
        ...(t.sentinelPassword !== undefined ? { sentinelPassword: t.sentinelPassword } : {}),
        sentinelRetryStrategy: (times) => retryStrategy(times),
        // A failover closes the old master's connections; ask the sentinels again at once.
        failoverDetector: true,
        ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
      }),
    );
  }
  return new Redis(t.url, { ...opts, ...(tls ? { tls } : {}) });
}

/** Whether `redis` is a Redis Cluster client. */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown) instanceof Cluster;
}

/**
 * The master nodes of a cluster client (each a connection of its own pool), or `[redis]` for one
 * node: for commands that address a node (SCAN, CLIENT, INFO, FLUSHALL).
 */
export function masterNodes(redis: Redis): Redis[] {
  if (!isCluster(redis)) return [redis];
  return (redis as unknown as Cluster).nodes("master") as Redis[];
}

/**
 * The connection of `redis` that serves `key`'s slot now (the client itself for one node); for a
 * command that must reach the node holding a key but carries no key (CLIENT ID of a blocking
 * reader, CLIENT UNBLOCK). Throws while no master is known for the slot (the caller retries).
 */
// Async on purpose: callers await it and treat "no master yet" as a rejection to retry.
// deno-lint-ignore require-await
export async function nodeForKey(redis: Redis, key: string): Promise<Redis> {
  if (!isCluster(redis)) return redis;
  const cluster = redis as unknown as Cluster;
  // The slot is computed here, not asked for: a keyless command goes to any node, maybe one that
  // is down or busy with a blocked read of this client.
  const slot = keySlot(key);
  const owners = (cluster as unknown as { slots: string[][] }).slots[slot];
  const master = owners?.[0];
  const node = master === undefined
    ? undefined
    : cluster.nodes("master").find((n) => nodeAddress(n as Redis) === master);
  if (!node) {
    // Its master is gone (a failover): learn the new one now rather than at the next interval.
    (cluster as unknown as { refreshSlotsCache?: () => void }).refreshSlotsCache?.();
    throw new Error(`no master serves slot ${slot} (key ${key}) yet`);
  }
  return node as Redis;
}

/** `host:port` of a connection to one node. */
export function nodeAddress(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/** The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag or of the key, mod 16384. */
export function keySlot(key: string): number {
  let bytes = new TextEncoder().encode(key);
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

/** Scans every master for keys matching `pattern`, calling `onKeys` with each batch. */
export async function scanAllNodes(
  redis: Redis,
  { pattern, onKeys, count = 1000 }: {
    pattern: string;
    onKeys: (keys: string[], node: Redis) => Promise<void>;
    /** SCAN's COUNT hint. @default {1000} */
    count?: number;
  },
): Promise<void> {
  for (const node of masterNodes(redis)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", count);
      cursor = next;
      if (keys.length > 0) await onKeys(keys, node);
    } while (cursor !== "0");
  }
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

/** Whether `target` answers PING within `timeoutMs` (a cluster: whether its state is ok). */
export async function pingRedis(target: RedisTarget | string, timeoutMs = 1000): Promise<boolean> {
  const r = createRedis(target, {
    name: "ping",
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on("error", () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answer = (async () => {
      await r.connect();
      if (isCluster(r)) return /cluster_state:ok/.test(String(await r.call("CLUSTER", ["INFO"])));
      return (await r.ping()) === "PONG";
    })();
    const late = new Promise<boolean>((resolve) =>
      timer = setTimeout(() => resolve(false), timeoutMs * 2)
    );
    return await Promise.race([answer.catch(() => false), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}
