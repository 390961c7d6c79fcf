/**
 * The ack part of a queue worker: finished jobs are acked in batches, one `complete_jobs` script
 * call for every job that finished while the previous call was in flight (`XACK` + `XDEL` of
 * the entry, the job hash and its dedup key, counted in the stats). The same call reads the next
 * new entries for the slots the worker says are free ({@link AckBatcherOptions.fetchCount}), so a
 * job that succeeds and the start of the next one cost one round trip.
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
   * Reserves the slots a call may fill with new entries and returns how many (0: read none).
   * Called once per script call, as it is sent.
   */
  fetchCount(): number;
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

/** Acks finished jobs in batches; {@link flushing} is the batch loop while it runs. */
export class AckBatcher<T> {
  readonly #opts: AckBatcherOptions<T>;
  readonly #items: T[] = [];
  #loop: Promise<void> | undefined;

  constructor(options: AckBatcherOptions<T>) {
    this.#opts = options;
  }

  /** The running batch loop, if any (close waits for it). */
  get flushing(): Promise<void> | undefined {
    return this.#loop;
  }

  /** Whether items wait for a script call not yet sent. */
  get queued(): boolean {
    return this.#items.length > 0;
  }

  /** Queues `item` for the next batch. */
  add(item: T): void {
    this.#items.push(item);
    this.#loop ??= this.#flush();
  }

  async #flush(): Promise<void> {
    try {
      const o = this.#opts;
      let failures = 0;
      while (this.#items.length > 0) {
        const batch = this.#items.splice(0, o.batchSize);
        const k = o.keys;
        const keys = [k.stream, k.stats];
        const fetch = o.fetchCount();
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
        try {
          [results, entries, more] = await o.scripts.completeJobs(keys, args);
          failures = 0;
        } catch (err) {
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
        batch.forEach((item, i) => o.settled(item, results[i] === 1));
        await o.fetched(entries, fetch, more === 1);
      }
    } finally {
      // Cleared in the same step that saw the list empty (no await between them): an item added
      // after it, by a handler settling in a microtask queued before this promise's reactions,
      // starts a new loop instead of joining one that has ended.
      this.#loop = undefined;
    }
  }
}
