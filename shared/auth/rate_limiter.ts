/**
 * Fixed-window counters in Redis, shared by every API replica. Used for login attempts per
 * username and per client address.
 */
import type { Redis } from "ioredis";

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Attempts allowed per window. @default {10} */
  limit?: number;
  /** Window length in seconds. @default {900} */
  windowSeconds?: number;
}

export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly limit: number;
  readonly windowSeconds: number;

  constructor(redis: Redis, keyPrefix: string, options: RateLimiterOptions = {}) {
    const { limit = 10, windowSeconds = 900 } = options;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(
        `Cannot create rate limiter: limit must be a positive integer, got ${limit}`,
      );
    }
    this.#redis = redis;
    this.#prefix = keyPrefix;
    this.limit = limit;
    this.windowSeconds = windowSeconds;
  }

  /** Seconds until `key` may try again, or 0 when it is under the limit. Does not count. */
  async retryAfter(key: string): Promise<number> {
    const k = this.#prefix + key;
    const [count, ttl] = await Promise.all([this.#redis.get(k), this.#redis.ttl(k)]);
    return Number(count ?? 0) >= this.limit ? Math.max(1, ttl) : 0;
  }

  /** Counts one attempt for `key`. */
  async hit(key: string): Promise<number> {
    const k = this.#prefix + key;
    const [[, n]] = await this.#redis.multi().incr(k).expire(k, this.windowSeconds, "NX")
      .exec() as [
        [null, number],
        [null, number],
      ];
    return n;
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }
}
