/**
 * The Redis keys of one queue. Every key carries the `{q:<queue>}` hash tag, so the keys one
 * script touches live in one Redis Cluster slot, and every key is built with the configured
 * prefix here (ioredis' `keyPrefix` is never used: it skips some stream commands).
 */
import type { KeySpace } from "../redis/redis.ts";

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ID = /^[A-Za-z0-9_.:@-]{1,200}$/;

/** Whether `name` is usable as a queue name (letters, digits, `_ . -`, at most 64). */
export function isValidQueueName(name: string): boolean {
  return NAME.test(name);
}

/** Whether `id` is usable as a job id (letters, digits, `_ . : @ -`, at most 200). */
export function isValidJobId(id: string): boolean {
  return ID.test(id);
}

/** Builds the keys of one queue. */
export class QueueKeys {
  readonly queue: string;
  /** The stream of waiting and running jobs (consumer group `workers`). */
  readonly stream: string;
  /** Sorted set of delayed job ids, scored by due time (ms, Redis clock). */
  readonly delayed: string;
  /** Stream of dead letters: jobs past their attempts, with their error. */
  readonly dead: string;
  /** Hash of running totals (enqueued, completed, retried, postponed, dead, reclaimed). */
  readonly stats: string;
  readonly #tag: string;
  readonly #keys: KeySpace;

  constructor(keys: KeySpace, queue: string) {
    if (!isValidQueueName(queue)) {
      throw new TypeError(
        `Cannot build queue keys: invalid queue name, got ${JSON.stringify(queue)}`,
      );
    }
    this.queue = queue;
    this.#keys = keys;
    this.#tag = `{q:${queue}}`;
    this.stream = keys.key(this.#tag, "stream");
    this.delayed = keys.key(this.#tag, "delayed");
    this.dead = keys.key(this.#tag, "dead");
    this.stats = keys.key(this.#tag, "stats");
  }

  /** The hash of job `id`. */
  job(id: string): string {
    return this.#keys.key(this.#tag, "job", id);
  }

  /** The key that holds the id of the live job with dedup key `key`. */
  dedup(key: string): string {
    return this.#keys.key(this.#tag, "dedup", key);
  }
}
