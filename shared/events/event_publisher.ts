/**
 * Publishes operation events. The write of the row that an event reports reserves a number in
 * the same UPDATE ({@link EVENT_RESERVATION}: `event_seq = event_seq + 1`), so reservations
 * follow commit order and are durable with the state they describe. One Lua script then refuses
 * the event when it is stale (a write that committed later was published already), allocates the
 * per-operation event id and writes both streams. Nothing runs after the script: a process that
 * dies right after publishing leaves nothing half done, and after a Redis flush the next id
 * (floored by the reservation) is still above every id published.
 */
import type { Redis } from "ioredis";
import type { Queryable } from "../db/db.ts";
import type { OperationRow } from "../operations/operation_types.ts";
import { isTerminal } from "../operations/operation_types.ts";
import type { KeySpace } from "../redis/redis.ts";
import { loadLua } from "../redis/load_lua.ts";
import { RedisScript } from "../redis/redis_script.ts";
import type { ReplicaWait } from "../redis/replica_wait.ts";
import { EventKeys } from "./event_keys.ts";
import { eventFromRow, type OperationEvent, type OperationEventType } from "./operation_event.ts";

const PUBLISH = new RedisScript(
  await loadLua(new URL("./lua/publish_event.lua", import.meta.url)),
);

/** Options of {@link EventPublisher}. */
export interface EventPublisherOptions {
  /** Events kept per operation stream. @default {1000} */
  operationStreamMaxLen?: number;
  /** Events kept (approximately) in the global stream. @default {10000} */
  globalStreamMaxLen?: number;
  /** How long a finished operation's events stay, in seconds. @default {21600 (6 h)} */
  retainSeconds?: number;
  /** `EVENT_PARTITIONS`: global streams the events are sharded over. @default {DEFAULT_EVENT_PARTITIONS} */
  partitions?: number;
  /** `REDIS_WAIT_REPLICAS`: waits for replicas after each terminal event. @default {undefined}: no wait */
  replicaWait?: ReplicaWait;
}

/**
 * The SET clause that reserves an event for a row write: every UPDATE whose new state is then
 * published includes it, and the row it returns is what {@link EventPublisher.publish} takes.
 */
export const EVENT_RESERVATION = "event_seq = event_seq + 1";

export class EventPublisher {
  readonly keys: EventKeys;
  readonly #redis: Redis;
  readonly #opts: Required<Omit<EventPublisherOptions, "partitions" | "replicaWait">>;
  readonly #replicaWait: ReplicaWait | undefined;

  constructor(redis: Redis, keys: KeySpace, options: EventPublisherOptions = {}) {
    const {
      operationStreamMaxLen = 1000,
      globalStreamMaxLen = 10000,
      retainSeconds = 6 * 3600,
    } = options;
    for (
      const [k, v] of Object.entries({ operationStreamMaxLen, globalStreamMaxLen, retainSeconds })
    ) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create event publisher: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    this.#redis = redis;
    this.keys = new EventKeys(keys, { partitions: options.partitions });
    this.#replicaWait = options.replicaWait;
    this.#opts = { operationStreamMaxLen, globalStreamMaxLen, retainSeconds };
  }

  /**
   * Publishes `row` (as returned by the UPDATE that wrote it with {@link EVENT_RESERVATION}) as an
   * event. Returns the published event, or undefined when it was refused as stale: a write that
   * committed after this one was published already (or this one was), so its state is older
   * than what clients have.
   */
  async publish(
    row: OperationRow,
    type?: OperationEventType,
  ): Promise<OperationEvent | undefined> {
    const reservation = Number(row.event_seq ?? 0);
    if (!Number.isInteger(reservation) || reservation < 1) {
      throw new RangeError(
        `Cannot publish an event of operation ${row.id}: its row was not written with ` +
          `${EVENT_RESERVATION} (event_seq ${row.event_seq})`,
      );
    }
    const event = eventFromRow(row, type);
    await this.keys.checkPartitions(this.#redis);
    const ttl = isTerminal(row.status) ? this.#opts.retainSeconds : 0;
    const id = Number(
      await PUBLISH.call(this.#redis, [
        this.keys.seq(row.id),
        this.keys.stream(row.id),
        this.keys.globalOf(row.id),
        this.keys.globalCountOf(row.id),
      ], [
        reservation,
        this.#opts.operationStreamMaxLen,
        this.#opts.globalStreamMaxLen,
        ttl,
        row.id,
        row.owner_id,
        JSON.stringify(event),
      ]),
    );
    // The terminal event is what a client that followed the operation waits for: it should
    // survive a failover of its master.
    if (id > 0 && ttl > 0) {
      await this.#replicaWait?.after(this.keys.stream(row.id), "terminal event");
    }
    return id > 0 ? { ...event, event_id: id } : undefined;
  }
}

/** Decodes one entry of an operation's stream or the global stream. */
export function decodeEventEntry(fields: string[]): OperationEvent | undefined {
  let id: number | undefined;
  let data: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "id") id = Number(fields[i + 1]);
    else if (fields[i] === "data") data = fields[i + 1];
  }
  if (id === undefined || data === undefined) return undefined;
  try {
    return { ...JSON.parse(data), event_id: id } as OperationEvent;
  } catch {
    return undefined;
  }
}

/**
 * The retained events of one operation with ids above `since`, in order, and whether they are
 * the whole history after `since` (false when older events were trimmed). Without a counter
 * (nothing published yet, or Redis lost it) there is nothing to replay: the next event's id, above
 * every id published, shows a loss as a gap, and the watches re-read the row meanwhile.
 */
export async function readOperationEvents(
  redis: Redis,
  { keys, operationId, since = 0 }: {
    keys: EventKeys;
    operationId: string;
    /** Read the events with ids above this one. @default {0} */
    since?: number;
  },
): Promise<{ events: OperationEvent[]; complete: boolean }> {
  // The range and the counter in one transaction: an event published between two separate
  // reads looked lost (counter above `since`, range empty) although it was retained, and a
  // resuming client got a snapshot instead of it.
  const replies = await redis.multi()
    .xrange(keys.stream(operationId), `${since + 1}-0`, "+")
    .get(keys.seq(operationId))
    .exec();
  if (!replies) throw new Error(`Cannot read the events of operation ${operationId}: aborted`);
  const [[rangeErr, entries], [seqErr, seqText]] = replies as [
    [Error | null, [string, string[]][]],
    [Error | null, string | null],
  ];
  if (rangeErr) throw rangeErr;
  if (seqErr) throw seqErr;
  const events: OperationEvent[] = [];
  for (const [, fields] of entries) {
    const e = decodeEventEntry(fields);
    if (e) events.push(e);
  }
  if (events.length > 0) return { events, complete: events[0]!.event_id === since + 1 };
  return { events, complete: seqText === null || Number(seqText) <= since };
}

/**
 * The latest event id of an operation: its counter, or without one (Redis flushed, history
 * expired) the row's `event_seq`, above which the next id will be.
 */
export function latestIdOf(counter: string | null, row: Pick<OperationRow, "event_seq">): number {
  return counter === null ? Number(row.event_seq ?? 0) : Number(counter);
}

/**
 * Reads operation rows for snapshots, each with the event id its content covers (and the id
 * counter as read, null when Redis has none: nothing published yet, or lost). The counters
 * are read before the rows: every event up to the id read was published after its write
 * committed, so the row read afterwards shows it (or something newer). An event published in
 * between has a higher id and reaches the client live; the snapshot's content already shows it,
 * which is harmless, while the reverse order would label content with an id it does not cover and
 * the client would drop that event as already seen.
 */
export async function readSnapshots(
  db: Queryable,
  { redis, keys, operationIds }: {
    redis: Redis;
    keys: EventKeys;
    operationIds: readonly string[];
  },
): Promise<{ row: OperationRow; eventId: number; counter: number | null }[]> {
  if (operationIds.length === 0) return [];
  // One MGET per partition: each partition's counters share its slot (Redis Cluster refuses an
  // MGET across slots).
  const byPartition = new Map<number, string[]>();
  for (const id of operationIds) {
    const p = keys.partitionOf(id);
    byPartition.set(p, [...byPartition.get(p) ?? [], id]);
  }
  const at = new Map<string, string | null>();
  await Promise.all([...byPartition.values()].map(async (ids) => {
    const counters = await redis.mget(...ids.map((id) => keys.seq(id)));
    ids.forEach((id, i) => at.set(id, counters[i] ?? null));
  }));
  const rows = await db.query<OperationRow>(
    "select * from operations where id = any($1::uuid[])",
    [operationIds],
  );
  return rows.map((row) => {
    const counter = at.get(row.id) ?? null;
    return {
      row,
      eventId: latestIdOf(counter, row),
      counter: counter === null ? null : Number(counter),
    };
  });
}
