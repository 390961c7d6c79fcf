/**
 * `/ws/operations/{id}`: one operation's events from `since` on, then live ones, with no gap and
 * no duplicate, then close 1000 after the terminal frame.
 *
 * Joining without a gap: subscribe to the hub first (live events are held back), then replay the
 * operation's stream after `since`, then release what was held back, dropping what the replay
 * already sent. Event ids are gapless per operation, so a live event more than one above the last
 * sent means the hub missed some (its group was recreated after a flush, or it fell behind the
 * capped global stream): the operation's stream fills the gap the same way. When the stream no
 * longer holds what the client needs, an `OPERATION_SNAPSHOT` of the row (with `event_id` = the
 * latest id) stands in for it.
 */
import type { Redis } from "ioredis";
import {
  decodeEventEntry,
  eventFromRow,
  type EventKeys,
  getOperation,
  isTerminal,
  type Logger,
  type OperationEvent,
  type OperationRow,
  type Queryable,
  readOperationEvents,
  TERMINAL_EVENT_TYPES,
} from "@semantik/shared";
import type { HubEvent, OperationHub } from "./operation_hub.ts";
import { eventFrame } from "./frame_queue.ts";
import { CloseCode, type SocketSession } from "./socket_session.ts";

/** What a watch reads from. */
export interface WatchDeps {
  db: Queryable;
  /** Command connection (replay and counters). */
  redis: Redis;
  keys: EventKeys;
  hub: OperationHub;
  log: Logger;
}

/** Options of {@link OperationWatch}. */
export interface OperationWatchOptions {
  /**
   * When the row is finished but the client has not had its terminal frame, how long to wait for
   * that event (the row is written just before the event is published) before a snapshot of the
   * finished row stands in for it, in ms. @default {2000}
   */
  terminalGraceMs?: number;
}

/** Whether nothing follows `event` on its operation. */
export function isFinalEvent(event: Pick<OperationEvent, "type" | "status">): boolean {
  return TERMINAL_EVENT_TYPES.includes(event.type) ||
    (event.type === "OPERATION_SNAPSHOT" && isTerminal(event.status));
}

/** The latest event id of an operation: its counter in Redis or the row's, whichever is higher. */
export async function latestEventId(
  redis: Redis,
  keys: EventKeys,
  row: Pick<OperationRow, "id" | "event_seq">,
): Promise<number> {
  const seq = Number(await redis.get(keys.seq(row.id)) ?? 0);
  return Math.max(seq, Number(row.event_seq ?? 0));
}

/** An `OPERATION_SNAPSHOT` of the row with the given id. */
export function snapshotOf(row: OperationRow, eventId: number): OperationEvent {
  return { ...eventFromRow(row, "OPERATION_SNAPSHOT"), event_id: eventId };
}

export class OperationWatch {
  readonly #session: SocketSession;
  readonly #deps: WatchDeps;
  readonly #id: string;
  readonly #graceMs: number;
  #row: OperationRow;
  /** The highest event id the client has (from `since`, or sent). */
  #last: number;
  /** Live events held back while the stream is replayed; undefined when live. */
  #held: HubEvent[] | undefined;
  #done = false;
  #settled = false;
  #grace: ReturnType<typeof setTimeout> | undefined;

  constructor(
    session: SocketSession,
    deps: WatchDeps,
    row: OperationRow,
    since = 0,
    options: OperationWatchOptions = {},
  ) {
    const { terminalGraceMs = 2000 } = options;
    if (!Number.isInteger(since) || since < 0) {
      throw new RangeError(
        `Cannot watch operation: since must be a non-negative integer, got ${since}`,
      );
    }
    this.#session = session;
    this.#deps = deps;
    this.#row = row;
    this.#id = row.id;
    this.#last = since;
    this.#graceMs = terminalGraceMs;
  }

  /** Subscribes, replays and goes live. Resolves once the replay has been handed to the socket. */
  async start(): Promise<void> {
    this.#held = [];
    const unsubscribe = await this.#deps.hub.subscribeOperation(this.#id, (e) => this.#onLive(e));
    this.#session.onClose(() => {
      unsubscribe();
      if (this.#grace !== undefined) clearTimeout(this.#grace);
    });
    if (this.#session.closed) return;
    await this.#catchUp();
  }

  #onLive(e: HubEvent): void {
    if (this.#done || this.#session.closed) return;
    if (this.#held) {
      this.#held.push(e);
      return;
    }
    const id = e.event.event_id;
    if (id <= this.#last) return;
    if (id > this.#last + 1) {
      this.#held = [e];
      this.#catchUp().catch((err) => this.#fail(err));
      return;
    }
    this.#emit(e.event, e.frame);
  }

  async #catchUp(): Promise<void> {
    const { redis, keys } = this.#deps;
    const initial = !this.#settled;
    const { events, complete } = await readOperationEvents(
      redis,
      keys,
      this.#id,
      this.#last,
      Number(this.#row.event_seq ?? 0),
    );
    if (this.#session.closed) return;
    if (!complete) {
      await this.#snapshot();
    } else if (events.length > 0) {
      for (const e of events) if (e.event_id > this.#last) this.#emit(e);
    } else if (initial && (await latestEventId(redis, keys, this.#row)) < this.#last) {
      // The client claims ids this operation never had: give it the current state to go on from.
      await this.#snapshot();
    }
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const e of held) this.#onLive(e);
    if (!this.#settled && !this.#held) {
      this.#settled = true;
      await this.#checkFinished();
    }
  }

  /**
   * After the first replay: when the row is finished but no terminal frame went out, either the
   * client had it already (it resumed after the end), or the event is still on its way, or it was
   * never published (Redis was down at that moment). The last two end with a snapshot.
   */
  async #checkFinished(): Promise<void> {
    if (this.#done) return;
    const row = await getOperation(this.#deps.db, this.#id);
    if (this.#done || this.#session.closed) return;
    if (!row) {
      this.#done = true;
      this.#session.close(CloseCode.notFound, "Operation no longer exists");
      return;
    }
    this.#row = row;
    if (!isTerminal(row.status)) return;
    const [tail] = await this.#deps.redis.xrevrange(
      this.#deps.keys.stream(this.#id),
      "+",
      "-",
      "COUNT",
      1,
    );
    const last = tail ? decodeEventEntry(tail[1]) : undefined;
    if (this.#done || this.#session.closed) return;
    if (last && isFinalEvent(last) && last.event_id <= this.#last) {
      this.#done = true;
      this.#session.closeAfterDrain(CloseCode.normal, "Operation finished");
      return;
    }
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      if (!this.#done && !this.#session.closed) this.#snapshot().catch((err) => this.#fail(err));
    }, this.#graceMs);
  }

  async #snapshot(): Promise<void> {
    const row = await getOperation(this.#deps.db, this.#id);
    if (this.#done || this.#session.closed) return;
    if (!row) {
      this.#done = true;
      this.#session.close(CloseCode.notFound, "Operation no longer exists");
      return;
    }
    this.#row = row;
    const latest = await latestEventId(this.#deps.redis, this.#deps.keys, row);
    if (this.#done || this.#session.closed) return;
    this.#emit(snapshotOf(row, latest));
  }

  #emit(event: OperationEvent, text?: string): void {
    if (this.#done) return;
    this.#session.send(eventFrame(event, text));
    this.#last = event.event_id;
    if (isFinalEvent(event)) {
      this.#done = true;
      this.#session.closeAfterDrain(CloseCode.normal, "Operation finished");
    }
  }

  #fail(err: unknown): void {
    this.#deps.log.error("cannot follow operation events", { err, operation_id: this.#id });
    this.#session.close(CloseCode.internalError, "Internal error");
  }
}
