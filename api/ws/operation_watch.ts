/**
 * `/ws/operations/{id}`: one operation's events from `since` on, then live ones, with no gap and
 * no duplicate, then close 1000 after the terminal frame.
 *
 * Joining without a gap: subscribe to the hub first (live events are held back), then replay the
 * operation's stream after `since`, then release what was held back, dropping what the replay
 * already sent. Event ids are gapless per operation, so a live event more than one above the last
 * sent means the hub missed some: the operation's stream fills the gap the same way. When the
 * stream no longer holds what the client needs, an `OPERATION_SNAPSHOT` of the row (with
 * `event_id` = the latest id) stands in for it.
 *
 * Never stranded: the hub tells its watches when it missed events (entries trimmed before it read
 * them, a flushed stream), and each catches up from the operation's stream at once. An event that
 * was never published (Redis failed at that moment) is covered by re-reading the row every
 * `rowCheckMs` while no terminal frame went out: what changed goes out as a snapshot, and a
 * finished row ends the watch with its terminal snapshot.
 *
 * Snapshot ids: the id counter is read before the row (`readSnapshots`), so a snapshot never
 * claims an event its content does not show. The rows are read through the process' one
 * {@link SnapshotReader}, which gathers the reads of many watches (10,000 sockets opening at once)
 * into few statements, each caller served by a read that starts after it asked.
 */
import type { Redis } from "ioredis";
import {
  decodeEventEntry,
  eventFromRow,
  type EventKeys,
  isTerminal,
  type Logger,
  type OperationEvent,
  type OperationRow,
  type Queryable,
  readOperationEvents,
  type SnapshotReader,
  TERMINAL_EVENT_TYPES,
} from "@semantik/shared";
import type { HubEvent, OperationHub } from "./operation_hub.ts";
import { eventFrame, type OutFrame } from "./frame_queue.ts";
import { CloseCode, type SocketSession } from "./socket_session.ts";

/** What a watch reads from. */
export interface WatchDeps {
  db: Queryable;
  /** Command connection (replay and counters). */
  redis: Redis;
  keys: EventKeys;
  hub: OperationHub;
  /** Reads the rows of snapshots and row checks, batched over the process' watches. */
  snapshots: SnapshotReader;
  log: Logger;
}

/** How often a watch re-reads the rows of operations without a terminal frame, in ms. */
export const ROW_CHECK_MS = 15_000;

/** Options of {@link OperationWatch}. */
export interface OperationWatchOptions {
  /**
   * When the row is finished but the client has not had its terminal frame, or a re-read finds
   * the row changed without an event, how long to wait for that event (the row is written just
   * before the event is published) before a snapshot of the row stands in for it, in ms.
   * @default {2000}
   */
  terminalGraceMs?: number;
  /**
   * While no terminal frame went out, how often to re-read the row and send what changed (an
   * event that was never published), in ms. @default {ROW_CHECK_MS}
   */
  rowCheckMs?: number;
}

/** Whether nothing follows `event` on its operation. */
export function isFinalEvent(event: Pick<OperationEvent, "type" | "status">): boolean {
  return TERMINAL_EVENT_TYPES.includes(event.type) ||
    (event.type === "OPERATION_SNAPSHOT" && isTerminal(event.status));
}

/** An `OPERATION_SNAPSHOT` of the row with the given id. */
export function snapshotOf(row: OperationRow, eventId: number): OperationEvent {
  return { ...eventFromRow(row, "OPERATION_SNAPSHOT"), event_id: eventId };
}

/** What a client sees of an operation's state: a row re-read sends a snapshot when it differs. */
export function stateOf(
  e: Pick<OperationEvent, "status" | "progress" | "message" | "error_message" | "metadata">,
): string {
  return JSON.stringify([e.status, e.progress, e.message, e.error_message, e.metadata ?? {}]);
}

/** Validates a watch's interval options. */
export function positiveMs(what: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${what}: ${k} must be a positive integer, got ${v}`);
    }
  }
}

export class OperationWatch {
  readonly #session: SocketSession;
  readonly #deps: WatchDeps;
  readonly #id: string;
  readonly #graceMs: number;
  readonly #rowCheckMs: number;
  /** The highest event id the client has (from `since`, or sent). */
  #last: number;
  /**
   * What the client last learned of the state: the last event sent, else the row it started
   * from (compared by {@link stateOf} only when a re-read needs it, not per frame).
   */
  #shown: Parameters<typeof stateOf>[0];
  /** A frame went out since the last row-check tick: the watch is live, the tick skips its read. */
  #live = false;
  /** A re-read found the row changed without an event: confirm it after the grace. */
  #confirm: ReturnType<typeof setTimeout> | undefined;
  /** Live events held back while the stream is replayed; undefined when live. */
  #held: HubEvent[] | undefined;
  /** Another catch-up was asked for while one ran (the hub lagged again). */
  #again = false;
  #done = false;
  #settled = false;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #recheck: ReturnType<typeof setInterval> | undefined;

  constructor(
    session: SocketSession,
    deps: WatchDeps,
    row: OperationRow,
    since = 0,
    options: OperationWatchOptions = {},
  ) {
    const { terminalGraceMs = 2000, rowCheckMs = ROW_CHECK_MS } = options;
    if (!Number.isInteger(since) || since < 0) {
      throw new RangeError(
        `Cannot watch operation: since must be a non-negative integer, got ${since}`,
      );
    }
    positiveMs("Cannot watch operation", { terminalGraceMs, rowCheckMs });
    this.#session = session;
    this.#deps = deps;
    this.#shown = eventFromRow(row);
    this.#id = row.id;
    this.#last = since;
    this.#graceMs = terminalGraceMs;
    this.#rowCheckMs = rowCheckMs;
  }

  /** Subscribes, replays and goes live. Resolves once the replay has been handed to the socket. */
  async start(): Promise<void> {
    this.#held = [];
    const unsubscribe = await this.#deps.hub.subscribeOperation(this.#id, (e) => this.#onLive(e));
    const offLag = this.#deps.hub.onLag(() => this.#resync());
    this.#session.onClose(() => {
      unsubscribe();
      offLag();
      this.#stopTimers();
    });
    if (this.#session.closed) return;
    await this.#catchUp();
    if (this.#done || this.#session.closed) return;
    this.#recheck = setInterval(() => {
      // Frames went out since the last tick: events reach this socket, and each carries the whole
      // state, so the row has nothing to add yet (a gap in ids is caught as it arrives). Only a
      // watch that went quiet re-reads its row: 10,000 sockets following busy operations make no
      // database reads of their own.
      if (this.#live) {
        this.#live = false;
        return;
      }
      // A failed re-read (the database away for a moment) is tried again at the next tick.
      this.#checkRow().catch((err) =>
        this.#deps.log.warn("cannot re-read a followed operation", { err, operation_id: this.#id })
      );
    }, this.#rowCheckMs);
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
    this.#emit(e.event, e.out);
  }

  /** The hub missed events: catch up from the operation's stream now. */
  #resync(): void {
    if (this.#done || this.#session.closed) return;
    if (this.#held) {
      this.#again = true;
      return;
    }
    this.#held = [];
    this.#catchUp().catch((err) => this.#fail(err));
  }

  async #catchUp(): Promise<void> {
    const { redis, keys } = this.#deps;
    const initial = !this.#settled;
    do {
      this.#again = false;
      const { events, complete } = await readOperationEvents(redis, {
        keys,
        operationId: this.#id,
        since: this.#last,
      });
      if (this.#session.closed) return;
      if (!complete) {
        await this.#snapshot();
      } else if (events.length > 0) {
        for (const e of events) if (e.event_id > this.#last) this.#emit(e);
      } else if (initial) {
        // The client may claim ids this operation never had: give it the state to go on from.
        await this.#snapshot((eventId) => eventId < this.#last);
      }
    } while (this.#again && !this.#done && !this.#session.closed);
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
    const [s] = await this.#deps.snapshots.read([this.#id]);
    if (this.#done || this.#session.closed) return;
    if (!s) return this.#gone();
    if (!isTerminal(s.row.status)) return;
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
      this.#finish();
      return;
    }
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      if (!this.#done && !this.#session.closed) this.#snapshot().catch((err) => this.#fail(err));
    }, this.#graceMs);
  }

  /**
   * Every `rowCheckMs` until a terminal frame went out: events the client lacks are fetched from
   * the stream (the hub may have missed them), and a row that changed without an event (its
   * publish failed) goes out as a snapshot. A change is confirmed `terminalGraceMs` later first:
   * the row is written just before its event is published, so a re-read may fall in between.
   */
  async #checkRow(confirming = false): Promise<void> {
    if (this.#done || this.#session.closed || this.#held) return;
    const [s] = await this.#deps.snapshots.read([this.#id]);
    if (this.#done || this.#session.closed || this.#held) return;
    if (!s) return this.#gone();
    if (s.counter !== null && s.counter > this.#last) {
      this.#resync();
      return;
    }
    const snap = snapshotOf(s.row, this.#last);
    if (stateOf(snap) === stateOf(this.#shown)) return;
    if (confirming) {
      this.#emit(snap);
    } else if (this.#confirm === undefined) {
      this.#confirm = setTimeout(() => {
        this.#confirm = undefined;
        this.#checkRow(true).catch((err) =>
          this.#deps.log.warn("cannot re-read a followed operation", {
            err,
            operation_id: this.#id,
          })
        );
      }, this.#graceMs);
    }
  }

  /** Sends a snapshot of the row (when `when` agrees with its id). */
  async #snapshot(when: (eventId: number) => boolean = () => true): Promise<void> {
    const [s] = await this.#deps.snapshots.read([this.#id]);
    if (this.#done || this.#session.closed) return;
    if (!s) return this.#gone();
    if (when(s.eventId)) this.#emit(snapshotOf(s.row, s.eventId));
  }

  #emit(event: OperationEvent, out?: OutFrame): void {
    if (this.#done) return;
    this.#session.send(out ?? eventFrame(event));
    this.#last = event.event_id;
    this.#shown = event;
    this.#live = true;
    if (isFinalEvent(event)) this.#finish();
  }

  #finish(): void {
    this.#done = true;
    this.#stopTimers();
    this.#session.closeAfterDrain(CloseCode.normal, "Operation finished");
  }

  #gone(): void {
    this.#done = true;
    this.#stopTimers();
    this.#session.close(CloseCode.notFound, "Operation no longer exists");
  }

  #stopTimers(): void {
    if (this.#grace !== undefined) clearTimeout(this.#grace);
    if (this.#recheck !== undefined) clearInterval(this.#recheck);
    if (this.#confirm !== undefined) clearTimeout(this.#confirm);
    this.#grace = undefined;
    this.#recheck = undefined;
    this.#confirm = undefined;
  }

  #fail(err: unknown): void {
    // A socket closed meanwhile may fail its reads harmlessly.
    if (this.#session.closed) return;
    this.#deps.log.error("cannot follow operation events", { err, operation_id: this.#id });
    this.#stopTimers();
    this.#session.close(CloseCode.internalError, "Internal error");
  }
}
