/**
 * The ack part of a queue worker: finished jobs are acked in batches by `complete_jobs` script
 * calls (`XACK` + `XDEL` of the entry, the job hash and its dedup key, counted in the stats). The
 * same call reads the next new entries for the slots the worker says are free
 * ({@link AckBatcherOptions.fetchCount}), so a job that succeeds and the start of the next one
 * cost one round trip.
 *
 * Two calls may be in flight at once (two lanes), so that Redis runs one while this process
 * handles the other's reply (starts the jobs it read, whose successes make the next call): with
 * one call at a time each side waits for the other. A lane handling a reply sends what finished
 * meanwhile itself, once it is done; a lane alone with several jobs to ack sends half of them
 * (with half of the free slots to read for) and wakes the other lane for the rest. The calls go
 * out as they are made only on a connection that does not defer commands to batch them (the
 * worker's ack connection is not auto-pipelined): deferred, the two calls travel and return
 * together and nothing overlaps.
 */
import { type Backoff, backoffDelay, resolveBackoff } from "../async/backoff.ts";
import { sleep } from "../async/sleep.ts";
import type { StreamEntry } from "./group_reader.ts";
import type { QueueKeys } from "./keys.ts";
import type { QueueScripts } from "./scripts.ts";

/** A failed ack call waits 200 ms, doubling to 5 s, before the next. */
const ACK_RETRY_BACKOFF: Backoff = resolveBackoff({ delayMs: 200, maxDelayMs: 5000, jitter: 0 });

/** What an ack needs of a finished job. */
export interface AckEntry {
  entryId: string;
  jobId: string;
  dedupKey: string | undefined;
}

/** Options of {@link AckBatcher}. */
export interface AckBatcherOptions<T> {
  scripts: QueueScripts;
  keys: QueueKeys;
  group: string;
  consumer: string;
  /** Jobs per script call. */
  batchSize: number;
  /** The stream entry of an item. */
  entryOf(item: T): AckEntry;
  /** Called for each item once its ack ran: `acked` is false when the entry was no longer ours. */
  settled(item: T, acked: boolean): void;
  /** Called for each item given up on (Redis failing while the worker closes): it stays pending. */
  dropped(item: T): void;
  /**
   * Reserves the slots a call may fill with new entries and returns how many (0: read none):
   * `share` of the free ones (1: all). Called once per script call, as it is sent.
   */
  fetchCount(share: number): number;
  /**
   * Called after each call's `settled` callbacks with the entries it read (none when it failed),
   * the count {@link fetchCount} reserved for it, and whether newer entries wait still; the next
   * call waits for what it returns.
   */
  fetched(entries: StreamEntry[], reserved: number, more: boolean): Promise<void> | void;
  /** Whether the worker is closing (then a failing Redis is given up on after 5 tries). */
  closing(): boolean;
  /** Reports a failed script call. */
  report(err: unknown): void;
}

/** Calls in flight at most. */
const LANES = 2;

/** Acks finished jobs in batches; {@link flushing} is the batch loops while they run. */
export class AckBatcher<T> {
  readonly #opts: AckBatcherOptions<T>;
  readonly #items: T[] = [];
  /** Per lane: its loop while it runs (it sends one call at a time). */
  readonly #lanes: (Promise<void> | undefined)[] = Array(LANES).fill(undefined);
  readonly #busy: boolean[] = Array(LANES).fill(false);
  /** Calls sent whose replies are not handled yet. */
  #sending = 0;

  constructor(options: AckBatcherOptions<T>) {
    this.#opts = options;
  }

  /** The running batch loops, if any (close waits for them). */
  get flushing(): Promise<void> | undefined {
    const running = this.#lanes.filter((l, i) => this.#busy[i] && l !== undefined);
    return running.length === 0 ? undefined : Promise.all(running).then(() => {});
  }

  /** Whether items wait for a script call not yet sent. */
  get queued(): boolean {
    return this.#items.length > 0;
  }

  /** Queues `item` for the next batch. */
  add(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  /**
   * Starts an idle lane for the waiting items, unless a lane is handling a reply (it takes them
   * when done) or every lane has a call in flight.
   */
  #wake(): void {
    if (this.#items.length === 0) return;
    let idle = -1;
    let active = 0;
    for (let i = 0; i < LANES; i++) {
      if (this.#busy[i]) active++;
      else if (idle < 0) idle = i;
    }
    if (idle < 0 || active > this.#sending) return;
    this.#busy[idle] = true;
    this.#lanes[idle] = this.#flush(idle);
  }

  async #flush(lane: number): Promise<void> {
    try {
      const o = this.#opts;
      let failures = 0;
      while (this.#items.length > 0) {
        // Alone in flight with several jobs: half now, the rest in the other lane at once.
        const alone = this.#sending === 0;
        const take = alone && this.#items.length > 1
          ? Math.ceil(this.#items.length / 2)
          : this.#items.length;
        const batch = this.#items.splice(0, Math.min(take, o.batchSize));
        const k = o.keys;
        const keys = [k.stream, k.stats];
        const fetch = o.fetchCount(alone && this.#items.length > 0 ? 0.5 : 1);
        const args: (string | number)[] = [o.group, o.consumer, fetch];
        for (const item of batch) {
          const e = o.entryOf(item);
          keys.push(k.job(e.jobId));
          if (e.dedupKey) keys.push(k.dedup(e.dedupKey));
          args.push(e.entryId, e.jobId, e.dedupKey ? "1" : "0");
        }
        let results: number[];
        let entries: StreamEntry[];
        let more: number;
        this.#sending++;
        // A call that throws at once fails as one whose reply fails: its slots are given back.
        let reply: ReturnType<QueueScripts["completeJobs"]>;
        try {
          reply = o.scripts.completeJobs(keys, args);
        } catch (err) {
          reply = Promise.reject(err);
        }
        this.#wake();
        try {
          [results, entries, more] = await reply;
          failures = 0;
        } catch (err) {
          this.#sending--;
          // Had the script run and its reply been lost, what it read stays pending for this
          // consumer and is taken over after its lease: at least once.
          await o.fetched([], fetch, false);
          o.report(err);
          failures++;
          if (failures > 5 && o.closing()) {
            // Unacked entries stay pending and are run again after their lease: at least once.
            for (const item of batch) o.dropped(item);
            continue;
          }
          this.#items.unshift(...batch);
          await sleep(backoffDelay(failures, ACK_RETRY_BACKOFF));
          continue;
        }
        this.#sending--;
        batch.forEach((item, i) => o.settled(item, results[i] === 1));
        await o.fetched(entries, fetch, more === 1);
      }
    } finally {
      // Cleared in the same step that saw the list empty (no await between them): an item added
      // after it, by a handler settling in a microtask queued before this promise's reactions,
      // starts a lane instead of joining one that has ended.
      this.#busy[lane] = false;
      this.#lanes[lane] = undefined;
    }
  }
}
