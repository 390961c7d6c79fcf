/**
 * Publishes operation events: one Lua script allocates the per-operation event id (floored by
 * Postgres' `event_seq`) and writes both streams; then the row's `event_seq` is raised to that id,
 * so after a Redis flush the next id still continues from it.
 */
import type { Redis } from "ioredis";
import type { Queryable } from "../db/db.ts";
import type { OperationRow } from "../operations/operation_types.ts";
import { isTerminal } from "../operations/operation_types.ts";
import type { KeySpace } from "../redis/redis.ts";
import { EventKeys } from "./event_keys.ts";
import { eventFromRow, type OperationEvent, type OperationEventType } from "./operation_event.ts";

const LUA = await Deno.readTextFile(new URL("./lua/publish_event.lua", import.meta.url));

/** Options of {@link EventPublisher}. */
export interface EventPublisherOptions {
  /** Events kept per operation stream. @default {1000} */
  operationStreamMaxLen?: number;
  /** Events kept (approximately) in the global stream. @default {10000} */
  globalStreamMaxLen?: number;
  /** How long a finished operation's events stay, in seconds. @default {21600 (6 h)} */
  retainSeconds?: number;
}

type PublishFn = (
  seq: string,
  stream: string,
  global: string,
  floor: number,
  opMax: number,
  globalMax: number,
  ttl: number,
  opId: string,
  owner: string,
  data: string,
) => Promise<number>;

export class EventPublisher {
  readonly keys: EventKeys;
  readonly #redis: Redis;
  readonly #opts: Required<EventPublisherOptions>;

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
    this.keys = new EventKeys(keys);
    this.#opts = { operationStreamMaxLen, globalStreamMaxLen, retainSeconds };
    if (!("semantikPublishEvent" in redis)) {
      redis.defineCommand("semantikPublishEvent", { numberOfKeys: 3, lua: LUA });
    }
  }

  /**
   * Publishes the row's current state as an event and records its id in Postgres. Returns the
   * published event.
   */
  async publish(
    db: Queryable,
    row: OperationRow,
    type?: OperationEventType,
  ): Promise<OperationEvent> {
    const event = eventFromRow(row, type);
    const ttl = isTerminal(row.status) ? this.#opts.retainSeconds : 0;
    const call =
      (this.#redis as unknown as { semantikPublishEvent: PublishFn }).semantikPublishEvent;
    const id = Number(
      await call.call(
        this.#redis,
        this.keys.seq(row.id),
        this.keys.stream(row.id),
        this.keys.global,
        Number(row.event_seq ?? 0),
        this.#opts.operationStreamMaxLen,
        this.#opts.globalStreamMaxLen,
        ttl,
        row.id,
        row.owner_id,
        JSON.stringify(event),
      ),
    );
    await db.query("update operations set event_seq = greatest(event_seq, $2) where id = $1", [
      row.id,
      id,
    ]);
    row.event_seq = Math.max(Number(row.event_seq ?? 0), id);
    return { ...event, event_id: id };
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
 * the whole history after `since` (false when older events were trimmed, expired or flushed).
 * `latestKnown` is the highest id known elsewhere (the row's `event_seq`).
 */
export async function readOperationEvents(
  redis: Redis,
  keys: EventKeys,
  operationId: string,
  since = 0,
  latestKnown = 0,
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
  const seq = Number(seqText ?? 0);
  return { events, complete: Math.max(seq, latestKnown) <= since };
}
