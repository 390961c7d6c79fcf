/**
 * `REDIS_WAIT_REPLICAS`: after the writes that must survive a failover (an enqueue, an
 * operation's terminal event), `WAIT <replicas> <timeout>` on the connection that made the write
 * (on a Redis Cluster, the connection to the master that holds the key), so the call returns once
 * that many replicas have the write, or the timeout passed. Redis replication is asynchronous:
 * without it a master that fails right after acknowledging a write may lose it, since the replica
 * promoted in its place never got it. WAIT narrows that window; it does not make Redis strongly
 * consistent (a replica that acknowledged can still lose the write in some failure orders).
 *
 * Fewer acknowledgements than asked are logged and counted, never an error: the write itself
 * succeeded and the caller goes on.
 */
import type { Redis } from "ioredis";
import { getLogger, type Logger } from "../log/logger.ts";
import { errorMessage } from "../errors.ts";
import { nodeForKey } from "./redis.ts";

/** Options of {@link ReplicaWait}. */
export interface ReplicaWaitOptions {
  /** `REDIS_WAIT_REPLICAS`: replicas to wait for; 0 turns waiting off. */
  replicas: number;
  /** `REDIS_WAIT_TIMEOUT_MS`: longest wait, in ms. @default {1000} */
  timeoutMs?: number;
  /** Told of every wait that got fewer acknowledgements than asked (a metric). */
  onShortfall?: (info: { what: string; acked: number; wanted: number }) => void;
  /** @default {getLogger("redis")} */
  log?: Logger;
}

export class ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly #redis: Redis;
  readonly #onShortfall: ReplicaWaitOptions["onShortfall"];
  readonly #log: Logger;
  #shortfalls = 0;

  /** @param redis the connection (or cluster client) that makes the writes waited for. */
  constructor(redis: Redis, options: ReplicaWaitOptions) {
    const { replicas, timeoutMs = 1000, onShortfall, log = getLogger("redis") } = options;
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new RangeError(
        `Cannot wait for replicas: replicas must be a non-negative integer, got ${replicas}`,
      );
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(
        `Cannot wait for replicas: timeoutMs must be a positive integer, got ${timeoutMs}`,
      );
    }
    this.#redis = redis;
    this.replicas = replicas;
    this.timeoutMs = timeoutMs;
    this.#onShortfall = onShortfall;
    this.#log = log;
  }

  /** Waits that got fewer acknowledgements than asked (or failed). */
  get shortfalls(): number {
    return this.#shortfalls;
  }

  /**
   * After a write of `key` (`what` names it in logs): waits for the replicas. Returns how many
   * acknowledged, or undefined when waiting is off.
   */
  async after(key: string, what: string): Promise<number | undefined> {
    if (this.replicas === 0) return undefined;
    let acked = 0;
    try {
      // The node's connection is the one the cluster client wrote the key with: WAIT counts
      // the writes of its own connection.
      const node = await nodeForKey(this.#redis, key);
      acked = Number(await node.call("WAIT", [this.replicas, this.timeoutMs]));
    } catch (err) {
      this.#log.warn("cannot wait for Redis replicas", { what, error: errorMessage(err) });
    }
    if (acked < this.replicas) {
      this.#shortfalls++;
      this.#log.warn("fewer Redis replicas acknowledged a write than REDIS_WAIT_REPLICAS", {
        what,
        acked,
        wanted: this.replicas,
        timeout_ms: this.timeoutMs,
      });
      this.#onShortfall?.({ what, acked, wanted: this.replicas });
    }
    return acked;
  }
}
