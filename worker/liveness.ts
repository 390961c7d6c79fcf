/**
 * The worker's liveness heartbeat in Redis, and the check behind `deno task worker:health`.
 *
 * Each worker process beats every `intervalMs`: it scores its consumer name in the sorted set
 * `<prefix>{workers}:alive` with the time its beat expires, and keeps a small JSON record under
 * `<prefix>{workers}:info:<consumer>` (expiring with it). A worker is alive while its score is in
 * the future. The beat runs on the worker's event loop, so a loop blocked by a runaway handler
 * stops it too, which is what a container health check should see. Maintenance can drop the
 * consumers of workers that are not alive from the consumer groups.
 */
import type { Redis } from "ioredis";
import { createRedis, KeySpace, type RedisTarget } from "@semantik/shared/redis";
import { errorMessage } from "@semantik/shared/errors";

/** What a worker says about itself in its heartbeat. */
export interface WorkerBeat {
  consumer: string;
  host: string;
  pid: number;
  queues: string[];
  startedAt: string;
  /** Jobs running in this process at the last beat. */
  running: number;
  /** When this beat stops counting (ms since the epoch). */
  expiresAt: number;
}

/** The liveness keys under `prefix`. */
export function livenessKeys(
  prefix: string,
): { alive: string; info: (consumer: string) => string } {
  const k = new KeySpace(prefix);
  return { alive: k.key("{workers}", "alive"), info: (c) => k.key("{workers}", "info", c) };
}

/** Options of {@link Liveness}. */
export interface LivenessOptions {
  /** Prefix of every key (`REDIS_PREFIX`). @default {"semantik:"} */
  prefix?: string;
  /** Beat interval, in ms. @default {5000} */
  intervalMs?: number;
  /** How long a beat counts, in ms; a few intervals, so one slow beat is not a death. @default {3 * intervalMs} */
  ttlMs?: number;
  /** Jobs running now, reported in each beat. @default {() => 0} */
  running?: () => number;
  /** Reports a failed beat (the next one is tried anyway). @default {ignore} */
  onError?: (err: unknown) => void;
}

export class Liveness {
  readonly #redis: Redis;
  readonly #info: Omit<WorkerBeat, "running" | "expiresAt">;
  readonly #keys: ReturnType<typeof livenessKeys>;
  readonly #intervalMs: number;
  readonly #ttlMs: number;
  readonly #running: () => number;
  readonly #onError: (err: unknown) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;

  constructor(
    redis: Redis,
    info: Omit<WorkerBeat, "running" | "expiresAt" | "startedAt">,
    options: LivenessOptions = {},
  ) {
    const {
      prefix = "semantik:",
      intervalMs = 5000,
      ttlMs = 3 * intervalMs,
      running = () => 0,
      onError = () => {},
    } = options;
    if (!(intervalMs > 0) || !(ttlMs > intervalMs)) {
      throw new RangeError(
        `Cannot start liveness: need 0 < intervalMs < ttlMs, got ${intervalMs} and ${ttlMs}`,
      );
    }
    this.#redis = redis;
    this.#info = { ...info, startedAt: new Date().toISOString() };
    this.#keys = livenessKeys(prefix);
    this.#intervalMs = intervalMs;
    this.#ttlMs = ttlMs;
    this.#running = running;
    this.#onError = onError;
  }

  /** Beats now and then every interval; a failed beat is reported and the next one tried. */
  async start(): Promise<void> {
    const tick = () => {
      this.#beating ??= this.beat().catch(this.#onError).finally(() => (this.#beating = undefined));
      return this.#beating;
    };
    this.#timer ??= setInterval(tick, this.#intervalMs);
    await tick();
  }

  /** Writes one beat. */
  async beat(): Promise<void> {
    const expiresAt = Date.now() + this.#ttlMs;
    const beat: WorkerBeat = { ...this.#info, running: this.#running(), expiresAt };
    await this.#redis.multi()
      .zadd(this.#keys.alive, expiresAt, this.#info.consumer)
      .set(this.#keys.info(this.#info.consumer), JSON.stringify(beat), "PX", this.#ttlMs)
      // Expired members are only records of dead workers; keep the set small.
      .zremrangebyscore(this.#keys.alive, "-inf", Date.now() - 24 * 3600_000)
      .exec();
  }

  /** Stops beating and withdraws this worker, so health says dead at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    await this.#redis.multi()
      .zrem(this.#keys.alive, this.#info.consumer)
      .del(this.#keys.info(this.#info.consumer))
      .exec();
  }

  /** Whether the beat timer runs. */
  get running(): boolean {
    return this.#timer !== undefined;
  }
}

/** Workers whose last beat has not expired, optionally only those on `host`. */
export async function liveWorkers(
  redis: Redis,
  options: { prefix?: string; host?: string; now?: number } = {},
): Promise<WorkerBeat[]> {
  const { prefix = "semantik:", host, now = Date.now() } = options;
  const keys = livenessKeys(prefix);
  const consumers = await redis.zrangebyscore(keys.alive, `(${now}`, "+inf");
  if (consumers.length === 0) return [];
  const infos = await redis.mget(...consumers.map((c) => keys.info(c)));
  const beats: WorkerBeat[] = [];
  for (const text of infos) {
    if (!text) continue;
    try {
      const b = JSON.parse(text) as WorkerBeat;
      if (b.expiresAt > now && (host === undefined || b.host === host)) beats.push(b);
    } catch {
      // A record this version cannot read is not a live worker of this version.
    }
  }
  return beats;
}

/** Options of {@link checkWorkerHealth}. */
export interface HealthCheckOptions {
  /** `REDIS_PREFIX`. @default {"semantik:"} */
  prefix?: string;
  /** Host whose workers count. @default {Deno.hostname()} */
  host?: string;
  /** Give up on Redis after this long, in ms. @default {3000} */
  timeoutMs?: number;
}

/** Whether a worker on `host` is alive, with a line saying so. Never throws. */
export async function checkWorkerHealth(
  redisUrl: RedisTarget | string,
  options: HealthCheckOptions = {},
): Promise<{ ok: boolean; message: string; workers: WorkerBeat[] }> {
  const { prefix = "semantik:", host = Deno.hostname(), timeoutMs = 3000 } = options;
  // A health check must answer quickly: no reconnect loop, one try.
  const redis = createRedis(redisUrl, {
    name: "worker:health",
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    const workers = await liveWorkers(redis, { prefix, host });
    if (workers.length === 0) {
      return { ok: false, message: `unhealthy: no live worker on host ${host}`, workers };
    }
    const list = workers.map((w) => `${w.consumer} (${w.queues.join(",")}, running ${w.running})`);
    return { ok: true, message: `healthy: ${list.join("; ")}`, workers };
  } catch (err) {
    const msg = errorMessage(err);
    return { ok: false, message: `unhealthy: cannot read worker heartbeats: ${msg}`, workers: [] };
  } finally {
    redis.disconnect();
  }
}
