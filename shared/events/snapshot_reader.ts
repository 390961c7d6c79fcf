/**
 * {@link readSnapshots} shared by many callers: the reads that a process' WebSocket watches make of
 * their operations' rows (when a socket opens, and on the quiet watches' row checks) are gathered
 * into few statements. When 10,000 sockets reconnect after a restart, each would otherwise make a
 * database query and a Redis `MGET` of its own, all at once; here they wait in line and go out as
 * one `select ... where id = any(...)` and one `MGET` per partition for each batch.
 *
 * Freshness: every caller is served by a read that **starts after its call**. A call made while no
 * read runs starts one at once; a call made while one runs waits for the next, which starts when
 * the running one ends and takes every call that waited meanwhile. A caller never gets a read that
 * began before it asked, so what it relies on (it subscribed to the hub before asking, or a row
 * changed before it asked) holds as with a read of its own.
 */
import type { Redis } from "ioredis";
import type { Queryable } from "../db/db.ts";
import type { EventKeys } from "./event_keys.ts";
import { readSnapshots } from "./event_publisher.ts";

/** One operation's snapshot as {@link readSnapshots} gives it. */
export type Snapshot = Awaited<ReturnType<typeof readSnapshots>>[number];

/** Options of {@link SnapshotReader}. */
export interface SnapshotReaderOptions {
  /**
   * Most operation ids in one batch; callers past it wait for the next batch (a caller asking for
   * more than this alone is read alone). @default {500}
   */
  maxIds?: number;
}

interface Waiting {
  readonly ids: readonly string[];
  readonly resolve: (snapshots: Snapshot[]) => void;
  readonly reject: (err: unknown) => void;
}

export class SnapshotReader {
  readonly #db: Queryable;
  readonly #redis: Redis;
  readonly #keys: EventKeys;
  readonly #maxIds: number;
  #waiting: Waiting[] = [];
  #reading = false;
  #reads = 0;

  constructor(db: Queryable, redis: Redis, keys: EventKeys, options: SnapshotReaderOptions = {}) {
    const { maxIds = 500 } = options;
    if (!Number.isInteger(maxIds) || maxIds < 1) {
      throw new RangeError(
        `Cannot create snapshot reader: maxIds must be a positive integer, got ${maxIds}`,
      );
    }
    this.#db = db;
    this.#redis = redis;
    this.#keys = keys;
    this.#maxIds = maxIds;
  }

  /** Batches read so far (each one `readSnapshots` call). */
  get reads(): number {
    return this.#reads;
  }

  /**
   * The snapshots of those of `operationIds` whose rows exist, in the order asked, from a read
   * that starts after this call.
   */
  read(operationIds: readonly string[]): Promise<Snapshot[]> {
    if (operationIds.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ ids: operationIds, resolve, reject });
      if (!this.#reading) this.#drain();
    });
  }

  /** Reads batch after batch while callers wait; one read at a time. */
  async #drain(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#take();
        const ids = new Set<string>();
        for (const w of batch) for (const id of w.ids) ids.add(id);
        this.#reads++;
        let snapshots: Snapshot[];
        try {
          snapshots = await readSnapshots(this.#db, {
            redis: this.#redis,
            keys: this.#keys,
            operationIds: [...ids],
          });
        } catch (err) {
          for (const w of batch) w.reject(err);
          continue;
        }
        const byId = new Map(snapshots.map((s) => [s.row.id, s]));
        for (const w of batch) {
          const mine: Snapshot[] = [];
          for (const id of w.ids) {
            const s = byId.get(id);
            if (s) mine.push(s);
          }
          w.resolve(mine);
        }
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * The callers of the next batch: in the order they asked, while their ids keep the batch within
   * `maxIds` distinct ids (the first caller always, however many it asks for).
   */
  #take(): Waiting[] {
    const ids = new Set<string>();
    let n = 0;
    for (; n < this.#waiting.length; n++) {
      const w = this.#waiting[n]!;
      const added = w.ids.filter((id) => !ids.has(id));
      // A caller whose ids the batch has already costs it nothing.
      if (n > 0 && added.length > 0 && ids.size + added.length > this.#maxIds) break;
      for (const id of added) ids.add(id);
    }
    return this.#waiting.splice(0, n);
  }
}
