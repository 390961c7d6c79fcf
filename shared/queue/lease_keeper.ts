/**
 * The lease part of a queue worker: the heartbeat that keeps held entries' leases, and the
 * takeover of entries whose lease ran out.
 *
 * - Heartbeat: every `heartbeatMs` one script renews all held entries after checking each is
 *   still this consumer's ({@link renewLeases}); a lost lease is reported once per entry, and that
 *   entry is not renewed again (the worker aborts its handler).
 * - Takeover: entries idle past `leaseMs` are claimed with `XAUTOCLAIM`, a bounded scan per call
 *   whose cursor carries over between calls (the reader calls {@link LeaseKeeper.claimExpired}
 *   when it has free slots and a scan is due).
 */
import type { Redis } from "ioredis";
import { settlesWithin } from "../async/with_timeout.ts";
import type { StreamEntry } from "./group_reader.ts";
import type { QueueKeys } from "./keys.ts";
import { type LeaseLoss, renewLeases } from "./renew_leases.ts";
import type { QueueScripts } from "./scripts.ts";

/** Options of {@link LeaseKeeper}. */
export interface LeaseKeeperOptions {
  redis: Redis;
  scripts: QueueScripts;
  keys: QueueKeys;
  group: string;
  consumer: string;
  /** Idle time after which an entry may be taken over, in ms. */
  leaseMs: number;
  /** Renewal interval, in ms. */
  heartbeatMs: number;
  /** The entries to renew now (held, and not given up). */
  held(): string[];
  /** Called for each held entry whose lease is lost. */
  lost(entryId: string, why: LeaseLoss): void;
  report(err: unknown, during: string): void;
}

/** Renews held leases on a timer and claims expired ones on request. */
export class LeaseKeeper {
  readonly #o: LeaseKeeperOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;
  #claimCursor = "0-0";

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
  }

  /** Starts the heartbeat. */
  start(): void {
    this.#timer = setInterval(() => this.renew(), this.#o.heartbeatMs);
  }

  /** Stops the heartbeat; waits at most 2 s for a renewal under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    // Bounded: during a Redis outage a command can wait through many reconnects.
    await settlesWithin(this.#renewing, 2000);
  }

  /** Renews the held leases now, unless a renewal is under way or nothing is held. */
  renew(): void {
    if (this.#renewing) return;
    const entryIds = this.#o.held();
    if (entryIds.length === 0) return;
    const { scripts, keys, group, consumer } = this.#o;
    this.#renewing = (async () => {
      const lost = await renewLeases(scripts, { stream: keys.stream, group, consumer, entryIds });
      for (const [entryId, why] of lost) this.#o.lost(entryId, why);
    })().catch((err) => this.#o.report(err, "renewing leases")).finally(() => {
      this.#renewing = undefined;
    });
  }

  /** Claims at most `count` entries idle past the lease; an empty list when none is. */
  async claimExpired(count: number): Promise<StreamEntry[]> {
    const { redis, keys, group, consumer, leaseMs } = this.#o;
    // XAUTOCLAIM scans a bounded part of the pending list per call; the cursor carries the scan
    // over live entries at the front to idle ones further on.
    for (let round = 0; round < 10; round++) {
      const reply = await redis.call("XAUTOCLAIM", [
        keys.stream,
        group,
        consumer,
        leaseMs,
        this.#claimCursor,
        "COUNT",
        count,
      ]) as [string, StreamEntry[], string[]?];
      this.#claimCursor = reply[0] ?? "0-0";
      const entries = reply[1] ?? [];
      if (entries.length > 0) return entries;
      if (this.#claimCursor === "0-0") return [];
    }
    return [];
  }
}
