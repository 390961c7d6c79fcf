/**
 * The reader part of a queue worker: the fetch loop and the accounting of free job slots.
 *
 * - Fetch: `XREADGROUP ... BLOCK` on a connection of its own, with a bounded block so stop can
 *   interrupt it (`CLIENT UNBLOCK`). On start this consumer's own pending entries (a previous
 *   run with the same consumer name) are read first, then new ones (`>`); every
 *   `reclaimIntervalMs` entries idle past their lease are taken over first (the lease part's
 *   `XAUTOCLAIM`).
 * - Slots: a slot is free when no handler runs in it and no read is under way for it. A read
 *   reserves the slots it asks for, the blocking read here as much as the non-blocking read
 *   that a completing script does ({@link JobReader.reserveForCompletion}): a job that
 *   succeeds hands its slot to the next entry in the same round trip, and this loop reads
 *   (blocking) only for slots that round trip left free.
 * - Backlog: completing scripts read only while entries are known to wait (a completing read
 *   says whether more wait after it; after a full blocking read one `XRANGE` looks, beside the
 *   handlers). Otherwise the blocking read is issued beside the ack, so a job enqueued into an
 *   idle queue is not kept waiting for a completing read that finds nothing.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../log/logger.ts";
import { nodeAddress, nodeForKey } from "../redis/redis.ts";
import { backoffDelay, resolveBackoff } from "../async/backoff.ts";
import { settlesWithin } from "../async/with_timeout.ts";
import { sleep } from "../async/sleep.ts";
import { ensureGroup, isNoGroup, readGroup, type StreamEntry } from "./group_reader.ts";
import type { QueueKeys } from "./keys.ts";

/** A failed read of the stream waits 200 ms, doubling to 5 s, before the next. */
const READ_RETRY_BACKOFF = resolveBackoff({ delayMs: 200, maxDelayMs: 5000, jitter: 0 });

/** Options of {@link JobReader}. */
export interface JobReaderOptions {
  /** The worker's command connection (group creation, `CLIENT UNBLOCK`). */
  redis: Redis;
  /** Makes the connection the blocking reads wait on (disconnected by {@link JobReader.stop}). */
  makeBlocking: () => Redis;
  keys: QueueKeys;
  group: string;
  consumer: string;
  /** Slots in all: the handlers' and the read-ahead buffer's (may change between reads). */
  slots(): number;
  /** Longest blocking read, in ms. */
  blockMs: number;
  /** How often to take over entries idle past their lease, in ms. */
  reclaimIntervalMs: number;
  /** Handlers running now (each holds a slot). */
  running(): number;
  /**
   * Whether a success waits to be acked: its completing call will read for the free slots, so
   * the loop leaves them to it.
   */
  completionQueued(): boolean;
  /** Starts new entries (`>`), each in a slot reserved for it. */
  deliver(entries: StreamEntry[]): void;
  /** Starts this consumer's own pending entries after a restart; returns how many started. */
  redeliver(entries: StreamEntry[]): Promise<number>;
  /** Takes over at most `count` entries idle past their lease and starts them; returns how many. */
  reclaim(count: number): Promise<number>;
  /** Gives back entries read after stop began. */
  handBack(entries: StreamEntry[]): Promise<void>;
  report(err: unknown, during: string): void;
  log: Logger;
}

/** Reads jobs for free slots until stopped. */
export class JobReader {
  readonly #o: JobReaderOptions;
  readonly #stop = new AbortController();
  #blocking: Redis | undefined;
  #blockingId: number | undefined;
  /** `host:port` of the node the blocking read waits on (a cluster has several). */
  #blockingAt: string | undefined;
  #loop: Promise<void> | undefined;
  /** Slots promised to reads under way (this loop's and completing scripts'). */
  #reserved = 0;
  #wake: (() => void) | undefined;
  /** Whether new entries (`>`) are read now: the group exists and own pending ones are done. */
  #readingNew = false;
  #lastReclaim = 0;
  /** Whether entries are known to wait unread: completing calls read only then. */
  #backlog = false;
  /** Bumped on each completing read's update, so that an older look does not override it. */
  #backlogSeen = 0;
  readonly #ready: PromiseWithResolvers<void> = Promise.withResolvers();

  constructor(options: JobReaderOptions) {
    this.#o = options;
  }

  /** Resolves once the consumer group exists and jobs are read (or the reader stopped). */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Slots neither running a handler nor reserved for a read. */
  get free(): number {
    return Math.max(0, this.#o.slots() - this.#o.running() - this.#reserved);
  }

  /** Starts the fetch loop. */
  start(): void {
    this.#blocking = this.#o.makeBlocking();
    this.#blocking.on("error", () => {/* reconnects by itself; the read loop reports */});
    // A reconnected connection has a new client id; learn it again before the next read.
    this.#blocking.on("close", () => (this.#blockingId = undefined));
    this.#loop = this.#fetch();
  }

  /** Tells the loop that a slot may have come free (a handler settled). */
  slotFreed(): void {
    this.#wake?.();
  }

  /**
   * Reserves the free slots (`share` of them, rounded up) for the non-blocking read of a
   * completing script and returns how many it may fetch: 0 while stopping, before the loop reads
   * new entries, or when a takeover scan is due (this loop does that, and must get a free slot for
   * it). Give them back with {@link releaseCompletion} once the fetched entries have started.
   */
  reserveForCompletion(share = 1): number {
    const n = this.stopped || !this.#readingNew || !this.#backlog ||
        Date.now() - this.#lastReclaim >= this.#o.reclaimIntervalMs
      ? 0
      : Math.ceil(this.free * share);
    this.#reserved += n;
    // The loop may be waiting for this call: with nothing reserved it reads itself.
    if (n === 0) this.#wake?.();
    return n;
  }

  /**
   * Gives back `count` slots reserved by {@link reserveForCompletion}, once what the read got has
   * started; `more`: whether newer entries wait still.
   */
  releaseCompletion(count: number, more: boolean): void {
    this.#reserved -= count;
    if (count > 0) this.#setBacklog(more);
    this.#wake?.();
  }

  #setBacklog(waiting: boolean): void {
    this.#backlog = waiting;
    this.#backlogSeen++;
  }

  /**
   * Looks (without waiting) whether entries newer than `lastId` wait, after a read filled every
   * slot; what a completing read said meanwhile wins.
   */
  #lookForBacklog(lastId: string): void {
    const seen = this.#backlogSeen;
    this.#o.redis.xrange(this.#o.keys.stream, `(${lastId}`, "+", "COUNT", 1).then((after) => {
      if (seen === this.#backlogSeen) this.#backlog = after.length > 0;
    }).catch(() => {/* the next read tells */});
  }

  /** Ends the fetch loop: unblocks a waiting read so that it returns cleanly, then disconnects. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    this.#ready.resolve();
    const loop = this.#loop;
    if (loop) {
      const id = this.#blockingId;
      if (id !== undefined) {
        // Not awaited: with Redis down it would wait through reconnects; the race below bounds
        // it. Sent only to the node the read waits on (client ids are per node).
        nodeForKey(this.#o.redis, this.#o.keys.stream).then((node) =>
          nodeAddress(node) === this.#blockingAt ? node.call("CLIENT", ["UNBLOCK", id]) : undefined
        ).catch(() => {});
      }
      if (!(await settlesWithin(loop, this.#o.blockMs + 1000))) {
        // Entries delivered to a dropped read stay pending for this consumer until reclaimed.
        this.#blocking?.disconnect();
        await loop;
      }
    }
  }

  /** Closes the blocking connection (after {@link stop}). */
  disconnect(): void {
    this.#blocking?.disconnect();
  }

  async #fetch(): Promise<void> {
    const o = this.#o;
    const stop = this.#stop.signal;
    let failures = 0;
    // Own pending entries first (a restarted worker with the same name), then new ones.
    let ownCursor: string | undefined = "0";
    let groupReady = false;
    while (!stop.aborted) {
      try {
        if (!groupReady) {
          await ensureGroup(o.redis, { stream: o.keys.stream, group: o.group });
          groupReady = true;
          if (ownCursor === undefined) this.#readingNew = true;
          this.#ready.resolve();
        }
        const free = await this.#waitForSlot();
        if (free === 0) break;
        if (ownCursor !== undefined) {
          const entries = await this.#reserving(free, () => this.#read(free, ownCursor!));
          if (entries.length === 0) {
            ownCursor = undefined;
            this.#readingNew = true;
            continue;
          }
          ownCursor = entries[entries.length - 1]![0];
          await o.redeliver(entries);
          continue;
        }
        if (Date.now() - this.#lastReclaim >= o.reclaimIntervalMs) {
          this.#lastReclaim = Date.now();
          if (await this.#reserving(free, () => o.reclaim(free)) > 0) continue;
        }
        const block = Math.max(
          1,
          Math.min(o.blockMs, o.reclaimIntervalMs - (Date.now() - this.#lastReclaim)),
        );
        if (this.#blockingId === undefined) {
          // On a cluster the read blocks on the node that serves the stream's slot: the client
          // id is that node's connection's, and CLIENT UNBLOCK must go to that node.
          const node = await nodeForKey(this.#blocking!, o.keys.stream);
          this.#blockingId = Number(await node.client("ID"));
          this.#blockingAt = nodeAddress(node);
          if (node !== this.#blocking) node.once("close", () => (this.#blockingId = undefined));
        }
        // Counted again: a completing call may have reserved slots during the awaits above.
        const count = this.free;
        if (count === 0) continue;
        // The slots stay reserved until what was read has started, in the same step: a job
        // that ends at once must find its slot free for its completing call to read for.
        this.#reserved += count;
        let entries: StreamEntry[];
        try {
          entries = await this.#read(count, ">", block);
        } finally {
          this.#reserved -= count;
        }
        if (stop.aborted) {
          await o.handBack(entries);
          break;
        }
        o.deliver(entries);
        if (entries.length === count) this.#lookForBacklog(entries[count - 1]![0]);
        else this.#setBacklog(false);
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        if (isNoGroup(err)) {
          // The stream or group is gone (a flush, a restart without persistence): recreate it.
          groupReady = false;
          ownCursor = undefined;
          this.#readingNew = false;
          o.log.warn("consumer group missing; creating it again");
          continue;
        }
        failures++;
        o.report(err, "reading jobs");
        await sleep(backoffDelay(failures, READ_RETRY_BACKOFF), stop);
      }
    }
  }

  /** Runs `read` (a read and the start of what it read) with `count` slots reserved for it. */
  async #reserving<T>(count: number, read: () => Promise<T>): Promise<T> {
    this.#reserved += count;
    try {
      return await read();
    } finally {
      this.#reserved -= count;
    }
  }

  /**
   * Resolves with the number of free slots once there is one that no queued completion will
   * read for, or 0 when stopping.
   */
  async #waitForSlot(): Promise<number> {
    const stop = this.#stop.signal;
    while ((this.free === 0 || (this.#readingNew && this.#o.completionQueued())) && !stop.aborted) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return stop.aborted ? 0 : this.free;
  }

  #read(count: number, from: string, blockMs?: number): Promise<StreamEntry[]> {
    return readGroup(this.#blocking!, {
      stream: this.#o.keys.stream,
      group: this.#o.group,
      consumer: this.#o.consumer,
      count,
      from,
      blockMs,
    });
  }
}
