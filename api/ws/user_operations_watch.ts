/**
 * `/ws/operations`: every event of a user's operations. First an `OPERATION_SNAPSHOT` of each of
 * the user's active operations, then live events. The hub subscription comes first and live events
 * are held back while the snapshots are built, so an event published meanwhile is sent once: after
 * the snapshot when it is newer, not at all when the snapshot already covers it.
 */
import type { OperationRow } from "@semantik/shared";
import type { HubEvent } from "./operation_hub.ts";
import { eventFrame } from "./frame_queue.ts";
import { isFinalEvent, latestEventId, snapshotOf, type WatchDeps } from "./operation_watch.ts";
import type { SocketSession } from "./socket_session.ts";

/** Options of {@link UserOperationsWatch}. */
export interface UserOperationsWatchOptions {
  /** Most active operations snapshotted on connect. @default {1000} */
  maxSnapshots?: number;
}

export class UserOperationsWatch {
  readonly #session: SocketSession;
  readonly #deps: WatchDeps;
  readonly #userId: string;
  readonly #max: number;
  /** Per operation still running: the highest event id sent, to drop what a snapshot covered. */
  readonly #last = new Map<string, number>();
  #held: HubEvent[] | undefined;

  constructor(
    session: SocketSession,
    deps: WatchDeps,
    userId: string,
    options: UserOperationsWatchOptions = {},
  ) {
    const { maxSnapshots = 1000 } = options;
    if (!Number.isInteger(maxSnapshots) || maxSnapshots < 0) {
      throw new RangeError(
        `Cannot watch operations: maxSnapshots must be a non-negative integer, got ${maxSnapshots}`,
      );
    }
    this.#session = session;
    this.#deps = deps;
    this.#userId = userId;
    this.#max = maxSnapshots;
  }

  /** Subscribes, sends the snapshots and goes live. */
  async start(): Promise<void> {
    const { db, redis, keys, hub } = this.#deps;
    this.#held = [];
    const unsubscribe = await hub.subscribeOwner(this.#userId, (e) => this.#onLive(e));
    this.#session.onClose(unsubscribe);
    if (this.#session.closed) return;
    const rows = await db.query<OperationRow>(
      `select * from operations where owner_id = $1 and status in ('pending', 'processing')
        order by created_at, id limit $2`,
      [this.#userId, this.#max],
    );
    const latest = await Promise.all(rows.map((row) => latestEventId(redis, keys, row)));
    if (this.#session.closed) return;
    rows.forEach((row, i) => {
      const event = snapshotOf(row, latest[i]!);
      this.#session.send(eventFrame(event));
      this.#last.set(row.id, event.event_id);
    });
    const held = this.#held;
    this.#held = undefined;
    for (const e of held) this.#onLive(e);
  }

  #onLive(e: HubEvent): void {
    if (this.#session.closed) return;
    if (this.#held) {
      this.#held.push(e);
      return;
    }
    const { event } = e;
    if (event.event_id <= (this.#last.get(event.operation_id) ?? 0)) return;
    this.#session.send(eventFrame(event, e.frame));
    // A finished operation sends nothing more: forget it.
    if (isFinalEvent(event)) this.#last.delete(event.operation_id);
    else this.#last.set(event.operation_id, event.event_id);
  }
}
