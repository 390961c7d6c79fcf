/**
 * Keys of the event streams. Events are sharded over `EVENT_PARTITIONS` partitions: partition `p`
 * has its own global stream and entry count under the hash tag `{ops:<p>}`, and every operation's
 * stream and id counter live beside its partition (same hash tag), so the publish script's keys
 * stay in one Redis Cluster slot while the partitions spread over the cluster's masters. An
 * operation's partition is a stable hash of its id ({@link partitionOf}), so nothing records it.
 *
 * The partition count is stored in Redis at first use ({@link EventKeys.checkPartitions}); a
 * process configured with another count refuses to publish or read events (changing it would move
 * operations in flight to other streams and lose their history).
 */
import type { Redis } from "ioredis";
import type { KeySpace } from "../redis/redis.ts";

/**
 * Each API process's hub reads the global streams through a consumer group of its own, named
 * `hub:<hubId>` (the same name on every partition's stream); cleanup removes the groups whose hub
 * heartbeat is gone.
 */
const HUB_GROUP_PREFIX = "hub:";

/** Partitions when none are configured (`EVENT_PARTITIONS`). */
export const DEFAULT_EVENT_PARTITIONS = 8;
/** Most partitions allowed. */
export const MAX_EVENT_PARTITIONS = 1024;

/** The consumer group of hub `hubId` on the global streams. */
export function hubGroupName(hubId: string): string {
  return HUB_GROUP_PREFIX + hubId;
}

/** The hub id a group name belongs to, or undefined when it is not a hub's group. */
export function hubIdOfGroup(group: string): string | undefined {
  return group.startsWith(HUB_GROUP_PREFIX) && group.length > HUB_GROUP_PREFIX.length
    ? group.slice(HUB_GROUP_PREFIX.length)
    : undefined;
}

/**
 * The partition of operation `operationId` among `partitions`: FNV-1a (32 bit) of the lower-cased
 * id's UTF-8 bytes, modulo the count. Stable across processes and releases.
 */
export function partitionOf(operationId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(operationId.toLowerCase())) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** Options of {@link EventKeys}. */
export interface EventKeysOptions {
  /** `EVENT_PARTITIONS`. @default {DEFAULT_EVENT_PARTITIONS} */
  partitions?: number;
}

export class EventKeys {
  /** How many partitions the events are sharded over. */
  readonly partitions: number;
  /** Pub/sub channel of cancellation requests for running operations. */
  readonly cancelChannel: string;
  /** Where the partition count is stored at first use. */
  readonly partitionsKey: string;
  readonly #keys: KeySpace;
  #checked: Promise<void> | undefined;

  constructor(keys: KeySpace, options: EventKeysOptions = {}) {
    const { partitions = DEFAULT_EVENT_PARTITIONS } = options;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_EVENT_PARTITIONS) {
      throw new RangeError(
        `Cannot build event keys: partitions must be an integer from 1 to ${MAX_EVENT_PARTITIONS}, got ${partitions}`,
      );
    }
    this.#keys = keys;
    this.partitions = partitions;
    this.cancelChannel = keys.key("{ops}", "cancel");
    this.partitionsKey = keys.key("{ops}", "partitions");
  }

  /** The hash tag of partition `p`. */
  #tag(p: number): string {
    return `{ops:${p}}`;
  }

  /** The partition of an operation. */
  partitionOf(operationId: string): number {
    return partitionOf(operationId, this.partitions);
  }

  /** Partition `p`'s global stream, which every API process's hub reads. */
  global(p: number): string {
    return this.#keys.key(this.#tag(p), "events");
  }

  /**
   * How many entries were ever added to partition `p`'s global stream; each entry carries its
   * position as `g`, so a hub can tell that it missed entries.
   */
  globalCount(p: number): string {
    return this.#keys.key(this.#tag(p), "events", "g");
  }

  /** The global stream that operation `operationId`'s events go to. */
  globalOf(operationId: string): string {
    return this.global(this.partitionOf(operationId));
  }

  /** The entry count beside {@link globalOf}. */
  globalCountOf(operationId: string): string {
    return this.globalCount(this.partitionOf(operationId));
  }

  /** One operation's stream; entry ids are `<event id>-0`. */
  stream(operationId: string): string {
    return this.streamPrefix(this.partitionOf(operationId)) + operationId;
  }

  /** One operation's event id counter. */
  seq(operationId: string): string {
    return this.seqPrefix(this.partitionOf(operationId)) + operationId;
  }

  /** What every operation stream of partition `p` starts with (the operation id follows). */
  streamPrefix(p: number): string {
    return this.#keys.key(this.#tag(p), "op", "");
  }

  /** What every id counter of partition `p` starts with (the operation id follows). */
  seqPrefix(p: number): string {
    return this.#keys.key(this.#tag(p), "seq", "");
  }

  /** Liveness key of an API process's hub (its consumer groups are named after it). */
  hubHeartbeat(hubId: string): string {
    return this.#keys.key("{ops}", "hub", hubId);
  }

  /**
   * Stores the partition count in Redis unless one is stored, and rejects when the stored count
   * differs from this one: events of operations in flight were published to the partitions that
   * count gives, and a process with another count would neither find their history nor read
   * their streams. Checked once per instance (publishing and hubs await it).
   */
  checkPartitions(redis: Redis): Promise<void> {
    this.#checked ??= (async () => {
      const stored = await redis.set(this.partitionsKey, this.partitions, "NX", "GET");
      if (stored !== null && Number(stored) !== this.partitions) {
        throw new Error(
          `EVENT_PARTITIONS is ${this.partitions} but the events in Redis are sharded over ` +
            `${stored} partitions (${this.partitionsKey}); set EVENT_PARTITIONS=${stored}, or let ` +
            `every operation finish, stop all processes and delete that key before changing it`,
        );
      }
    })();
    this.#checked.catch(() => (this.#checked = undefined));
    return this.#checked;
  }
}
