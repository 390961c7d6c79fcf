/**
 * Fixed-window attempt counters in Redis, shared by every API replica. Used for logins: per
 * (username, client address) and per client address. Checking and counting are one Lua script
 * (`lua/rate_limit_take.lua`), so concurrent attempts cannot slip past the limit together.
 */
import type { Redis } from "ioredis";
import { loadLua, RedisScript } from "@semantik/shared";

const TAKE = new RedisScript(await loadLua(new URL("./lua/rate_limit_take.lua", import.meta.url)));
const GIVE_BACK = new RedisScript(
  await loadLua(new URL("./lua/rate_limit_give_back.lua", import.meta.url)),
);

/** The counters one login attempt is counted on. */
export interface LoginAttemptKeys {
  /** Attempts for this name from this address. */
  nameAndAddress: string;
  /** Attempts from this address, any name. */
  address: string;
}

/**
 * The counter keys of a login attempt for `normalizedName` from `address`. Both start with the
 * address as their hash tag (`{addr:<address>}`), so the script that checks and counts them
 * together runs in one Redis Cluster slot (a cluster refuses a script whose keys span slots).
 */
export function loginAttemptKeys(normalizedName: string, address: string): LoginAttemptKeys {
  const tag = `{addr:${address.replace(/[{}]/g, "_")}}`;
  return { nameAndAddress: `${tag}:name:${normalizedName}`, address: tag };
}

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Window length in seconds. @default {900} */
  windowSeconds?: number;
}

/** One counter an attempt is counted on, and how many attempts it allows per window. */
export interface RateLimit {
  key: string;
  limit: number;
}

export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly windowSeconds: number;

  constructor(redis: Redis, keyPrefix: string, options: RateLimiterOptions = {}) {
    const { windowSeconds = 900 } = options;
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) {
      throw new RangeError(
        `Cannot create rate limiter: windowSeconds must be a positive integer, got ${windowSeconds}`,
      );
    }
    this.#redis = redis;
    this.#prefix = keyPrefix;
    this.windowSeconds = windowSeconds;
  }

  /**
   * Counts one attempt on every counter when none of them is full, and answers 0; otherwise
   * counts nothing and answers the seconds until the attempt may be made again. Atomic.
   */
  async take(limits: readonly RateLimit[]): Promise<number> {
    if (limits.length === 0) return 0;
    for (const { limit } of limits) {
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(
          `Cannot count an attempt: limit must be a positive integer, got ${limit}`,
        );
      }
    }
    const wait = await TAKE.call(
      this.#redis,
      limits.map((l) => this.#prefix + l.key),
      [this.windowSeconds, ...limits.map((l) => l.limit)],
    );
    return Number(wait);
  }

  /** Takes back one attempt {@link take} counted on `key` (it turned out legitimate). */
  async giveBack(key: string): Promise<void> {
    await GIVE_BACK.call(this.#redis, [this.#prefix + key], []);
  }

  /** Forgets every attempt counted on `key`. */
  async reset(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }
}
