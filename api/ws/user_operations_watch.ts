/**
 * `/ws/operations`: every event of a user's operations. First an `OPERATION_SNAPSHOT` of each of
 * the user's active operations, then live events. The hub subscription comes first and live events
 * are held back while the snapshots are built, so an event published meanwhile is sent once: after
 * the snapshot when it is newer, not at all when the snapshot already covers it (the id counters
 * are read before the rows, {@link readSnapshots}, so a snapshot never claims an event its content
 * does not show).
 *
 * Never stranded: for every operation the client follows (snapshotted, or seen in an event) and
 * that has not had its terminal frame, the watch catches up from the operation's stream when the
 * hub says it missed events (and snapshots operations that started meanwhile), and re-reads the
 * rows every `rowCheckMs`: events the hub missed are fetched, and a row that changed without an
 * event (its publish failed) goes out as a snapshot.
 */
import {
  type OperationEvent,
  type OperationRow,
  type OperationStatus,
  readOperationEvents,
  readSnapshots,
} from "@semantik/shared";
import type { HubEvent } from "./operation_hub.ts";
import { eventFrame, type OutFrame } from "./frame_queue.ts";
import {
  isFinalEvent,
  positiveMs,
  ROW_CHECK_MS,
  snapshotOf,
  stateOf,
  type WatchDeps,
} from "./operation_watch.ts";
import type { SocketSession } from "./socket_session.ts";

/** Options of {@link UserOperationsWatch}. */
export interface UserOperationsWatchOptions {
  /** Most active operations snapshotted on connect. @default {1000} */
  maxSnapshots?: number;
  /** How often to re-read the followed operations' rows, in ms. @default {ROW_CHECK_MS} */
  rowCheckMs?: number;
  /**
   * When a re-read finds a row changed without an event, how long to wait for that event (the row
   * is written just before it is published) before a snapshot stands in for it, in ms.
   * @default {2000}
   */
  eventGraceMs?: number;
}

const ACTIVE: readonly OperationStatus[] = ["pending", "processing"];
/** Finished operations remembered per socket, to drop their late terminal duplicates. */
const FINISHED_REMEMBERED = 1000;

export class UserOperationsWatch {
  readonly #session: SocketSession;
  readonly #deps: WatchDeps;
  readonly #userId: string;
  readonly #max: number;
  readonly #rowCheckMs: number;
  readonly #graceMs: number;
  /** Per followed operation without a terminal frame: the highest event id sent. */
  readonly #last = new Map<string, number>();
  /** Per followed operation: the last event sent (its state is compared only on a re-read). */
  readonly #state = new Map<string, OperationEvent>();
  /** Operations whose terminal frame went out. */
  readonly #finished = new Set<string>();
  /**
   * Operations a re-read found changed without an event, with when it first did: sent once the
   * change outlasted the grace without its event.
   */
  readonly #changed = new Map<string, number>();
  #held: HubEvent[] | undefined;
  #syncing = false;
  /** What the next sync must also do: look for new active operations, look at these ids. */
  #want: { active: boolean; ids: Set<string> } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #confirm: ReturnType<typeof setTimeout> | undefined;

  constructor(
    session: SocketSession,
    deps: WatchDeps,
    userId: string,
    options: UserOperationsWatchOptions = {},
  ) {
    const { maxSnapshots = 1000, rowCheckMs = ROW_CHECK_MS, eventGraceMs = 2000 } = options;
    if (!Number.isInteger(maxSnapshots) || maxSnapshots < 0) {
      throw new RangeError(
        `Cannot watch operations: maxSnapshots must be a non-negative integer, got ${maxSnapshots}`,
      );
    }
    positiveMs("Cannot watch operations", { rowCheckMs, eventGraceMs });
    this.#session = session;
    this.#deps = deps;
    this.#userId = userId;
    this.#max = maxSnapshots;
    this.#rowCheckMs = rowCheckMs;
    this.#graceMs = eventGraceMs;
  }

  /** Subscribes, sends the snapshots and goes live. */
  async start(): Promise<void> {
    const { hub } = this.#deps;
    this.#held = [];
    const unsubscribe = await hub.subscribeOwner(this.#userId, (e) => this.#onLive(e));
    const offLag = hub.onLag(() => this.#sync({ active: true }));
    this.#session.onClose(() => {
      unsubscribe();
      offLag();
      if (this.#timer !== undefined) clearInterval(this.#timer);
      if (this.#confirm !== undefined) clearTimeout(this.#confirm);
    });
    if (this.#session.closed) return;
    this.#syncing = true;
    try {
      await this.#snapshotActive();
    } finally {
      this.#release();
    }
    if (this.#session.closed) return;
    // The hub may have lagged while the snapshots were built.
    if (this.#want) this.#sync({});
    this.#timer = setInterval(() => this.#sync({}), this.#rowCheckMs);
  }

  #onLive(e: HubEvent): void {
    if (this.#session.closed) return;
    if (this.#held) {
      this.#held.push(e);
      return;
    }
    const { event } = e;
    const op = event.operation_id;
    if (this.#finished.has(op)) {
      // A terminal frame went out for it: a later terminal event repeats it. Anything else means
      // the operation runs again (a dead letter requeued): look at its row before following it.
      if (!isFinalEvent(event)) this.#sync({ ids: [op] });
      return;
    }
    if (event.event_id <= (this.#last.get(op) ?? 0)) return;
    this.#send(event, e.out);
  }

  #send(event: OperationEvent, out?: OutFrame): void {
    const op = event.operation_id;
    this.#changed.delete(op);
    this.#session.send(out ?? eventFrame(event));
    if (isFinalEvent(event)) {
      // A finished operation sends nothing more: forget it, but remember that it finished.
      this.#last.delete(op);
      this.#state.delete(op);
      this.#finished.add(op);
      if (this.#finished.size > FINISHED_REMEMBERED) {
        this.#finished.delete(this.#finished.values().next().value!);
      }
    } else {
      this.#last.set(op, event.event_id);
      this.#state.set(op, event);
    }
  }

  /** Snapshots the user's active operations that the client does not follow yet. */
  async #snapshotActive(): Promise<void> {
    const rows = await this.#deps.db.query<Pick<OperationRow, "id">>(
      `select id from operations where owner_id = $1 and status in ('pending', 'processing')
        order by created_at, id limit $2`,
      [this.#userId, this.#max],
    );
    await this.#snapshotNew(rows.map((r) => r.id));
  }

  /** Snapshots those of `ids` that are the user's, active and not followed yet, in that order. */
  async #snapshotNew(ids: Iterable<string>): Promise<void> {
    const { db, redis, keys } = this.#deps;
    const todo = [...new Set(ids)].filter((id) => !this.#last.has(id));
    const snaps = await readSnapshots(db, { redis, keys, operationIds: todo });
    if (this.#session.closed) return;
    const order = new Map(todo.map((id, i) => [id, i]));
    snaps.sort((a, b) => order.get(a.row.id)! - order.get(b.row.id)!);
    for (const { row, eventId } of snaps) {
      // Finished since the list was read: not active any more, nothing to show.
      if (row.owner_id !== this.#userId || !ACTIVE.includes(row.status)) continue;
      this.#finished.delete(row.id);
      this.#send(snapshotOf(row, eventId));
    }
  }

  /**
   * Brings the followed operations up to date (serialised; live events are held back meanwhile):
   * events the client lacks come from each operation's stream (a snapshot when the stream no
   * longer holds them), and a row that changed without an event goes out as a snapshot.
   */
  async #sync(want: { active?: boolean; ids?: string[] }): Promise<void> {
    if (this.#session.closed) return;
    const next = this.#want ??= { active: false, ids: new Set() };
    next.active ||= want.active ?? false;
    for (const id of want.ids ?? []) next.ids.add(id);
    if (this.#syncing) return;
    this.#syncing = true;
    this.#held ??= [];
    try {
      while (this.#want && !this.#session.closed) {
        const { active, ids } = this.#want;
        this.#want = undefined;
        await this.#catchUpFollowed();
        // Operations that started while the hub missed events, or that run again.
        if (active) await this.#snapshotActive();
        await this.#snapshotNew(ids);
      }
    } catch (err) {
      // Tried again at the next tick (the database or Redis away for a moment).
      this.#deps.log.warn("cannot resync followed operations", { err, user_id: this.#userId });
    } finally {
      this.#release();
    }
  }

  async #catchUpFollowed(): Promise<void> {
    const { db, redis, keys } = this.#deps;
    const followed = [...this.#last.keys()];
    const snaps = await readSnapshots(db, { redis, keys, operationIds: followed });
    const seen = new Set(snaps.map((s) => s.row.id));
    for (const id of followed) {
      // The row is gone (its collection was deleted): nothing more will come.
      if (!seen.has(id)) this.#last.delete(id), this.#state.delete(id);
    }
    for (const { row, eventId, counter } of snaps) {
      if (this.#session.closed) return;
      const last = this.#last.get(row.id);
      if (last === undefined) continue;
      if (counter !== null && counter > last) {
        const { events, complete } = await readOperationEvents(redis, {
          keys,
          operationId: row.id,
          since: last,
        });
        if (this.#session.closed) return;
        if (!complete) {
          this.#send(snapshotOf(row, eventId));
        } else {
          for (const e of events) {
            const now = this.#last.get(row.id);
            if (now !== undefined && e.event_id > now) this.#send(e);
          }
        }
      } else {
        // The row is written just before its event is published: a change is sent only when a
        // second re-read, a moment later, still finds no event for it.
        const snap = snapshotOf(row, last);
        const since = this.#changed.get(row.id);
        const shown = this.#state.get(row.id);
        if (shown !== undefined && stateOf(snap) === stateOf(shown)) {
          this.#changed.delete(row.id);
        } else if (since !== undefined && Date.now() - since >= this.#graceMs) {
          this.#send(snap);
        } else if (since === undefined) {
          this.#changed.set(row.id, Date.now());
          this.#confirm ??= setTimeout(() => {
            this.#confirm = undefined;
            this.#sync({});
          }, this.#graceMs);
        }
      }
    }
  }

  #release(): void {
    this.#syncing = false;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const e of held) this.#onLive(e);
  }
}
