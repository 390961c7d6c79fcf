/**
 * Consumes one queue: reads jobs from its stream through the consumer group, runs their
 * handlers with at most `concurrency` in flight, keeps their leases alive, and acks, retries or
 * buries each one only after its handler has settled. Its parts:
 *
 * - Reader (`job_reader.ts`): the fetch loop, a blocking `XREADGROUP` for the free slots (own
 *   pending entries first after a restart), and the accounting of free slots.
 * - Lease (`lease_keeper.ts`): the heartbeat that renews held entries (a lost lease aborts the
 *   handler's signal, and that entry is not renewed again), and the `XAUTOCLAIM` takeover of
 *   entries idle past `leaseMs`; the takeover counts as an attempt in the job hash (JUSTID claims
 *   do not raise the delivery count). A worker that claims back an entry whose handler it
 *   aborted for a lost lease starts a fresh attempt, as any other worker would.
 * - Ack (`ack_batcher.ts`): successes are acked in batches, by script calls on a connection of
 *   the worker's own (not auto-pipelined), at most two in flight, and the same call reads the next
 *   entries for the slots they freed: at concurrency 1 a job completes and the next starts in one
 *   round trip, and the blocking read waits only when that read found nothing.
 * - Here: running handlers; failures go to the delayed set with backoff and jitter, or to the
 *   dead letters after the last attempt; a RetryLaterError postpones without spending an
 *   attempt, at most `maxPostpones` times.
 * - Prefetch (`prefetch`, default `"auto"`): reads fetch up to `concurrency + prefetch` entries; those
 *   beyond the free slots wait in a local buffer and start, in stream order, as handlers settle,
 *   so that at low concurrency a short job's successor starts without waiting for a round trip
 *   and the acks of the jobs that ran meanwhile share one completing call (which refills the
 *   buffer). A buffered entry is held like a running one: its lease is renewed, a worker that
 *   dies leaves it pending for takeover after `leaseMs`, a lost lease drops it unstarted,
 *   {@link QueueWorker.abortJob} starts it at once with its signal fired, and close hands it back
 *   to the stream (at the tail, same attempt) before waiting for running handlers. `"auto"`
 *   reads ahead only as many as its measured handler times say would start within
 *   {@link AUTO_READ_AHEAD_WAIT_MS} (none until measured, none for long jobs), and hands the
 *   buffer back when its oldest job has waited {@link AUTO_READ_AHEAD_STALL_MS} (a handler ran
 *   far longer than the others), reading none ahead until no handler runs that long.
 * - Close: stop fetching, hand back buffered jobs, let running handlers finish within
 *   `shutdownTimeoutMs`, abort the rest, hand back those that stopped and leave those that did
 *   not pending for reclaim.
 */
import type { Redis } from "ioredis";
import { asError, RetryLaterError } from "../errors.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { createRedis, isCluster, KeySpace, type RedisTarget } from "../redis/redis.ts";
import type { Backoff } from "../async/backoff.ts";
import { QueueCounters } from "./counters.ts";
import { DelayedMover } from "./delayed_mover.ts";
import { TypedEmitter } from "./emitter.ts";
import {
  type Job,
  JobAbortedError,
  type JsonValue,
  LeaseLostError,
  WorkerClosingError,
} from "./job.ts";
import { QueueKeys } from "./keys.ts";
import { DEFAULT_GROUP } from "./queue.ts";
import { QueueScripts } from "./scripts.ts";
import { type JobRef, type TaskHandler, taskHandler } from "./task_handler.ts";
import { AckBatcher } from "./ack_batcher.ts";
import type { StreamEntry } from "./group_reader.ts";
import { JobReader } from "./job_reader.ts";
import { LeaseKeeper } from "./lease_keeper.ts";
import type { LeaseLoss } from "./renew_leases.ts";
import { type Delivery, parseDelivery } from "./delivery.ts";
import { type AckItem, JobFinisher, parsePayload, type RunningJob } from "./job_finisher.ts";

import { settlesWithin } from "../async/with_timeout.ts";
import { hostName } from "../runtime/host_name.ts";

export { type JobRef, type TaskHandler, taskHandler };

/** Events of a {@link QueueWorker}. Listeners must not throw (what they throw is only logged). */
export interface QueueWorkerEvents {
  /** A handler started. */
  started: { job: JobRef };
  /** A job finished and was acked; `result` is what the handler returned. */
  completed: { job: JobRef; result: unknown; durationMs: number };
  /** An attempt failed. `willRetry`: it runs again after `delayMs`; otherwise it is dead. */
  failed: {
    job: JobRef;
    error: Error;
    willRetry: boolean;
    /** The retry's delay, when it will retry. */
    delayMs: number | undefined;
    /** When the retry becomes due (ms since the epoch, Redis clock), when it will retry. */
    dueAt: number | undefined;
  };
  /** A handler threw a RetryLaterError (or the task is unknown here): it runs again later, same attempt. */
  postponed: { job: JobRef; error: Error; delayMs: number; dueAt: number };
  /** A job went to the dead letters, with the error recorded there. */
  dead: { job: JobRef; error: Error };
  /** This worker took over a job whose lease had run out (or its own, after a restart). */
  reclaimed: { job: JobRef };
  /** This worker lost a running job's lease; the handler's signal fired. */
  leaseLost: { job: JobRef; error: LeaseLostError };
  /** A job aborted with {@link QueueWorker.abortJob} stopped and was removed. */
  aborted: { job: JobRef; reason: string };
  /** A background step failed; the worker carries on. */
  error: { error: Error; during: string };
}

/** Options of {@link QueueWorker}. */
export interface QueueWorkerOptions {
  /**
   * Redis to connect to when `redis`/`blockingRedis` are not given: a URL or a
   * {@link RedisTarget} (cluster, sentinel). @default {"redis://127.0.0.1:6379"}
   */
  redisUrl?: RedisTarget | string;
  /** A command connection to share (not closed by the worker). @default {a new one} */
  redis?: Redis;
  /** Makes the worker's blocking connection (closed by the worker). @default {a new one} */
  blockingRedis?: () => Redis;
  /**
   * Makes the connection the completing calls (acks that read the next jobs) go on, closed by the
   * worker. Keep it free of auto-pipelining: two such calls overlap only when each goes out as it
   * is made (see `ack_batcher.ts`). @default {a new one, not auto-pipelined}
   */
  ackRedis?: () => Redis;
  /** Prefix of every key (`REDIS_PREFIX`). @default {"semantik:"} */
  prefix?: string;
  /** Consumer group. @default {"workers"} */
  group?: string;
  /**
   * This worker's consumer name; unique among live workers. A restarted worker with the same
   * name finishes its own pending jobs first.
   * @default {"<hostname>:<pid>"}
   */
  consumer?: string;
  /** Jobs in flight at most. @default {1} */
  concurrency?: number;
  /**
   * Jobs read ahead beyond the free slots and held (lease renewed) in a local buffer until a
   * slot frees (`WORKER_PREFETCH`). Saves round trips for short jobs; a buffered job waits
   * behind this worker's running ones even while other workers are idle, so a fixed number is
   * for queues of short jobs only. `"auto"` sizes it from the handlers' measured times: as many
   * as would start within {@link AUTO_READ_AHEAD_WAIT_MS} (at most
   * {@link AUTO_READ_AHEAD_MAX}; none for jobs of that length or longer), and a buffer stuck
   * behind a long handler is handed back after {@link AUTO_READ_AHEAD_STALL_MS}.
   * @default {"auto"}
   */
  prefetch?: number | "auto";
  /**
   * A job not renewed for this long may be taken over by another worker, in ms. Use the same
   * value on every worker of a queue: it is the idle time the others' takeover waits for.
   * @default {30000}
   */
  leaseMs?: number;
  /** Lease renewal interval, in ms; well under `leaseMs`. @default {leaseMs / 3} */
  heartbeatMs?: number;
  /** How often to look for expired leases to take over, in ms. @default {leaseMs / 2} */
  reclaimIntervalMs?: number;
  /** Longest blocking read, in ms; bounds how long close waits for the reader. @default {2000} */
  blockMs?: number;
  /** Longest pause between checks for due delayed jobs, in ms. @default {1000} */
  delayedPollMs?: number;
  /** Grace for running handlers when closing, in ms. @default {30000} */
  shutdownTimeoutMs?: number;
  /** After the grace, how long aborted handlers get to stop before the worker gives up on them, in ms. @default {1000} */
  abortGraceMs?: number;
  /** RetryLaterErrors a job may throw before one counts as a failure. @default {100} */
  maxPostpones?: number;
  /** Longest postponement honoured, in ms. @default {3600000} */
  maxPostponeMs?: number;
  /** Delay before a job of a task this worker has no handler for is offered again, in ms. @default {5000} */
  unknownTaskDelayMs?: number;
  /** Most jobs acked by one script call. @default {500} */
  ackBatchSize?: number;
  /** Source of randomness for backoff jitter. @default {Math.random} */
  random?: () => number;
  /** @default {getLogger("queue")} */
  logger?: Logger;
}

/** `prefetch: "auto"` reads ahead as many jobs as would start within this, in ms, on average. */
export const AUTO_READ_AHEAD_WAIT_MS = 2;
/** `prefetch: "auto"` reads ahead at most this many jobs. */
export const AUTO_READ_AHEAD_MAX = 32;
/**
 * `prefetch: "auto"` hands its buffer back when the oldest buffered job has waited this long, in
 * ms, and reads none ahead while a handler has run longer.
 */
export const AUTO_READ_AHEAD_STALL_MS = 100;
/** Weight of the newest handler time in the moving average that `"auto"` sizes from. */
const RUN_TIME_WEIGHT = 0.2;

export class QueueWorker {
  readonly queue: string;
  readonly consumer: string;
  readonly group: string;
  readonly keys: QueueKeys;
  readonly concurrency: number;
  readonly prefetch: number | "auto";
  readonly events: TypedEmitter<QueueWorkerEvents>;
  readonly counters: QueueCounters = new QueueCounters();

  readonly #handlers = new Map<string, TaskHandler>();
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  /** The completing calls' connection (the worker's own, or the command one on a cluster). */
  readonly #ackRedis: Redis;
  readonly #ownsAckRedis: boolean;
  readonly #scripts: QueueScripts;
  readonly #reader: JobReader;
  readonly #lease: LeaseKeeper;
  readonly #mover: DelayedMover;
  readonly #log: Logger;
  readonly #opts: Required<
    Pick<
      QueueWorkerOptions,
      | "leaseMs"
      | "heartbeatMs"
      | "reclaimIntervalMs"
      | "blockMs"
      | "shutdownTimeoutMs"
      | "abortGraceMs"
      | "maxPostpones"
      | "maxPostponeMs"
      | "unknownTaskDelayMs"
      | "ackBatchSize"
      | "random"
    >
  >;

  /** Entries this worker holds: handlers running, or finished and awaiting their ack. */
  readonly #held = new Map<string, RunningJob>();
  /** Running handlers by job id, for {@link abortJob}. */
  readonly #running = new Map<string, RunningJob>();
  /** Read ahead (`prefetch`), held and not started yet, in stream order. */
  readonly #buffer: RunningJob[] = [];
  #inFlight = 0;
  /** Moving average of handler times, in ms (`prefetch: "auto"`); undefined until one ran. */
  #runMs: number | undefined;
  /** `"auto"` handed its buffer back for a long handler: none read ahead until it ends. */
  #stalled = false;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #acks: AckBatcher<AckItem>;
  readonly #finisher: JobFinisher;
  readonly #backoffCache = new Map<string, Backoff>();

  #started = false;
  readonly #force = new AbortController();
  #closing: Promise<void> | undefined;
  #stopped: PromiseWithResolvers<void> = Promise.withResolvers();

  /**
   * @param queue the queue to consume (`default`, `embed`).
   * @param handlers one per task this worker runs; each task must belong to `queue`.
   */
  constructor(queue: string, handlers: readonly TaskHandler[], options: QueueWorkerOptions = {}) {
    const {
      redisUrl = "redis://127.0.0.1:6379",
      prefix = "semantik:",
      group = DEFAULT_GROUP,
      consumer = `${hostName()}:${Deno.pid}`,
      concurrency = 1,
      prefetch = "auto",
      leaseMs = 30_000,
      heartbeatMs = Math.floor(leaseMs / 3),
      reclaimIntervalMs = Math.floor(leaseMs / 2),
      blockMs = 2000,
      delayedPollMs = 1000,
      shutdownTimeoutMs = 30_000,
      abortGraceMs = 1000,
      maxPostpones = 100,
      maxPostponeMs = 3_600_000,
      unknownTaskDelayMs = 5000,
      ackBatchSize = 500,
      random = Math.random,
      logger,
    } = options;
    const what = `Cannot create worker for queue ${queue}`;
    positiveInt(what, "concurrency", concurrency);
    positiveInt(what, "leaseMs", leaseMs);
    positiveInt(what, "heartbeatMs", heartbeatMs);
    positiveInt(what, "reclaimIntervalMs", reclaimIntervalMs);
    positiveInt(what, "blockMs", blockMs);
    positiveInt(what, "ackBatchSize", ackBatchSize);
    if (heartbeatMs >= leaseMs) {
      throw new RangeError(
        `${what}: heartbeatMs must be shorter than leaseMs (${leaseMs}), got ${heartbeatMs}`,
      );
    }
    if (prefetch !== "auto" && (!Number.isInteger(prefetch) || prefetch < 0)) {
      throw new RangeError(
        `${what}: prefetch must be a non-negative integer or "auto", got ${prefetch}`,
      );
    }
    for (
      const [field, v] of Object.entries({
        shutdownTimeoutMs,
        abortGraceMs,
        maxPostpones,
        maxPostponeMs,
        unknownTaskDelayMs,
      })
    ) {
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`${what}: ${field} must be a non-negative integer, got ${v}`);
      }
    }
    if (consumer.length === 0) throw new TypeError(`${what}: consumer must not be empty`);

    this.keys = new QueueKeys(new KeySpace(prefix), queue);
    this.queue = queue;
    this.group = group;
    this.consumer = consumer;
    this.concurrency = concurrency;
    this.prefetch = prefetch;
    for (const h of handlers) {
      if (h.task.queue !== queue) {
        throw new TypeError(`${what}: task ${h.task.name} runs on queue ${h.task.queue}`);
      }
      if (this.#handlers.has(h.task.name)) {
        throw new TypeError(`${what}: two handlers for task ${h.task.name}`);
      }
      this.#handlers.set(h.task.name, h);
    }
    this.#opts = {
      leaseMs,
      heartbeatMs,
      reclaimIntervalMs,
      blockMs,
      shutdownTimeoutMs,
      abortGraceMs,
      maxPostpones,
      maxPostponeMs,
      unknownTaskDelayMs,
      ackBatchSize,
      random,
    };
    this.#log = (logger ?? getLogger("queue")).child({ queue, consumer });
    this.events = new TypedEmitter((err, event) =>
      this.#log.error(`a ${String(event)} listener threw`, { err })
    );
    this.#ownsRedis = options.redis === undefined;
    this.#redis = options.redis ?? createRedis(redisUrl, { name: `worker:${queue}:cmd` });
    if (this.#ownsRedis) {
      this.#redis.on("error", () => {/* reconnects; failures surface per call */});
    }
    this.#scripts = new QueueScripts(this.#redis);
    // A cluster client never auto-pipelines (createRedis): the completing calls share the
    // command connection there. Elsewhere they get their own, connected on the first completion
    // (a worker that never runs a job opens nothing here).
    const ack = options.ackRedis?.() ??
      (isCluster(this.#redis) ? undefined : createRedis(redisUrl, {
        name: `worker:${queue}:ack`,
        autoPipelining: false,
        lazyConnect: true,
      }));
    ack?.on("error", () => {/* reconnects; failures surface per call */});
    this.#ownsAckRedis = ack !== undefined;
    this.#ackRedis = ack ?? this.#redis;
    this.#mover = new DelayedMover(this.keys, this.#scripts, {
      pollMs: delayedPollMs,
      onError: (err) => this.#report(err, "moving delayed jobs"),
    });
    this.#finisher = new JobFinisher({
      scripts: this.#scripts,
      keys: this.keys,
      group,
      consumer,
      mover: this.#mover,
      counters: this.counters,
      events: this.events,
      log: this.#log,
      handlers: this.#handlers,
      maxPostpones,
      maxPostponeMs,
      random,
      forget: (a) => this.#forget(a),
      closing: () => this.#closing !== undefined,
      report: (err, during) => this.#report(err, during),
    });
    this.#acks = new AckBatcher<AckItem>({
      scripts: this.#ownsAckRedis ? new QueueScripts(this.#ackRedis) : this.#scripts,
      keys: this.keys,
      group: this.group,
      consumer: this.consumer,
      batchSize: this.#opts.ackBatchSize,
      entryOf: ({ active: { delivery: d } }) => d,
      settled: (item, acked) => this.#finisher.acked(item, acked),
      dropped: (item) => this.#forget(item.active),
      fetchCount: (share) => this.#reader.reserveForCompletion(share),
      fetched: (entries, reserved, more) => this.#fetched(entries, reserved, more),
      closing: () => this.#closing !== undefined,
      report: (err) => this.#report(err, "acking finished jobs"),
    });
    this.#lease = new LeaseKeeper({
      redis: this.#redis,
      scripts: this.#scripts,
      keys: this.keys,
      group,
      consumer,
      leaseMs,
      heartbeatMs,
      // An entry whose handler was aborted for a lost lease is not this worker's to keep:
      // renewing it would keep every other worker from taking the job while that handler winds
      // down.
      held: () => [...this.#held].filter(([, a]) => a.abortKind !== "lease").map(([id]) => id),
      lost: (entryId, why) => this.#leaseLost(entryId, why),
      report: (err, during) => this.#report(err, during),
    });
    this.#reader = new JobReader({
      redis: this.#redis,
      makeBlocking: options.blockingRedis ??
        (() => createRedis(redisUrl, { name: `worker:${queue}:read`, blocking: true })),
      keys: this.keys,
      group,
      consumer,
      // A buffered job holds a place as a running one does.
      slots: () => concurrency + this.readAhead,
      blockMs,
      reclaimIntervalMs,
      running: () => this.#inFlight + this.#buffer.length,
      completionQueued: () => this.#acks.queued,
      deliver: (entries) => this.#startFresh(entries),
      redeliver: (entries) => this.#redeliver(entries, "restart"),
      reclaim: async (count) => {
        const entries = await this.#lease.claimExpired(count);
        return entries.length > 0 ? await this.#redeliver(entries, "reclaim") : 0;
      },
      handBack: (entries) => this.#handBack(entries),
      report: (err, during) => this.#report(err, during),
      log: this.#log,
    });
  }

  /** Whether {@link run} was called. */
  get isRunning(): boolean {
    return this.#started && this.#closing === undefined;
  }

  /** Jobs whose handlers are running now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Jobs read ahead and waiting in this worker for a slot (see `prefetch`). */
  get bufferedCount(): number {
    return this.#buffer.length;
  }

  /** How many jobs a read may take beyond the free slots now (`prefetch`, or what `"auto"` says). */
  get readAhead(): number {
    if (this.prefetch !== "auto") return this.prefetch;
    const ms = this.#runMs;
    if (ms === undefined || this.#stalled) return 0;
    return Math.min(
      AUTO_READ_AHEAD_MAX,
      Math.floor(this.concurrency * AUTO_READ_AHEAD_WAIT_MS / ms),
    );
  }

  /**
   * Starts consuming. Resolves when the worker has closed; rejects at once when called twice or
   * after close.
   */
  run(): Promise<void> {
    if (this.#closing) {
      return Promise.reject(new Error(`Cannot run worker for queue ${this.queue}: it was closed`));
    }
    if (this.#started) {
      return Promise.reject(
        new Error(`Cannot run worker for queue ${this.queue}: it is already running`),
      );
    }
    this.#started = true;
    this.#reader.start();
    this.#lease.start();
    this.#mover.start();
    return this.#stopped.promise;
  }

  /** Resolves once the consumer group exists and the worker reads jobs. */
  waitUntilReady(): Promise<void> {
    return this.#reader.ready;
  }

  /**
   * Aborts job `jobId` if its handler runs in this worker, or it waits in this worker's
   * read-ahead buffer (then its handler starts at once, over `concurrency`, with the signal
   * already fired): its signal fires with a
   * {@link JobAbortedError}. If the handler then throws, the job is removed (no retry) and
   * `aborted` is emitted; if it returns, the job completes. Returns whether the job ran here.
   */
  abortJob(jobId: string, reason: string): boolean {
    const i = this.#buffer.findIndex((b) => b.delivery.jobId === jobId);
    if (i >= 0) {
      // Read ahead, not started: started now (one over `concurrency` for a moment) with its
      // signal already fired, so that its handler decides as a running one would (an operation
      // records its cancellation) instead of waiting behind the running jobs.
      const [b] = this.#buffer.splice(i, 1);
      b!.abortKind = "external";
      b!.abortReason = reason;
      b!.controller.abort(new JobAbortedError(jobId, reason));
      this.#start(b!);
      return true;
    }
    const a = this.#running.get(jobId);
    if (!a || a.controller.signal.aborted) return false;
    a.abortKind = "external";
    a.abortReason = reason;
    a.controller.abort(new JobAbortedError(jobId, reason));
    return true;
  }

  /**
   * Stops the worker; the same promise for every call. Stops fetching, waits up to
   * `shutdownTimeoutMs` for running handlers (not at all with `force`), aborts the rest, hands
   * back jobs whose handlers stopped and leaves the others pending for reclaim. Never rejects.
   */
  close(force = false): Promise<void> {
    // A forced call during a graceful close cuts its wait for running handlers short.
    if (force) this.#force.abort();
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const step = async (during: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (err) {
        this.#report(err, during);
      }
    };
    clearTimeout(this.#stallTimer);
    await step("stopping the reader", () => this.#reader.stop());
    await step("handing back buffered jobs", () => this.#releaseBuffered());
    await step("stopping the delayed mover", () => this.#mover.stop());
    await step(
      "waiting for running jobs",
      () => this.#waitForRunning(this.#opts.shutdownTimeoutMs, this.#force.signal),
    );
    await step("aborting running jobs", async () => {
      if (this.#running.size > 0) {
        this.#log.info("stopping running handlers: the shutdown grace is over", {
          jobs: [...this.#running.keys()],
          graceMs: this.#opts.shutdownTimeoutMs,
          forced: this.#force.signal.aborted,
        });
      }
      for (const a of this.#running.values()) {
        if (a.controller.signal.aborted) continue;
        a.abortKind = "shutdown";
        a.controller.abort(new WorkerClosingError(a.delivery.jobId));
      }
      await this.#waitForRunning(this.#opts.abortGraceMs);
      if (this.#running.size > 0) {
        this.#log.warn(
          "handlers did not stop; their jobs stay pending until their lease runs out",
          {
            jobs: [...this.#running.keys()],
          },
        );
      }
    });
    await step("finishing jobs", () => this.#waitForFinishing(5000));
    await step("renewing leases", () => this.#lease.stop());
    await step("closing connections", () => {
      this.#reader.disconnect();
      if (this.#ownsAckRedis) this.#ackRedis.disconnect();
      if (this.#ownsRedis) this.#redis.disconnect();
    });
    this.#stopped.resolve();
  }

  // ---- fetching (the reader and the completing script read; this starts what they read) ----

  #parse(entryId: string, fields: unknown): Delivery | undefined {
    return parseDelivery(entryId, { fields, backoffCache: this.#backoffCache });
  }

  #startFresh(entries: StreamEntry[]): void {
    const empty: string[] = [];
    const over: Delivery[] = [];
    for (const [entryId, fields] of entries) {
      const d = this.#parse(entryId, fields);
      if (!d) empty.push(entryId);
      // Read for a read-ahead that shrank while the read was under way (`"auto"` saw a long
      // handler): not held here, handed back as the buffer was.
      else if (this.#inFlight + this.#buffer.length >= this.concurrency + this.readAhead) {
        over.push(d);
      } else this.#admit(d);
    }
    this.#dropEntries(empty);
    this.#handBackUnstarted(over).catch((err) => this.#report(err, "handing back read-ahead jobs"));
  }

  /** Starts the entries a completing script read, then gives back the slots it reserved. */
  async #fetched(entries: StreamEntry[], reserved: number, more: boolean): Promise<void> {
    try {
      if (entries.length === 0) return;
      // Read as close began: handed back, so another worker starts them at once.
      if (this.#reader.stopped) await this.#handBack(entries);
      else this.#startFresh(entries);
    } catch (err) {
      this.#report(err, "handing back jobs read while closing");
    } finally {
      this.#reader.releaseCompletion(reserved, more);
    }
  }
  /** Acks and deletes entries that carry no job (deleted while pending, or malformed). */
  #dropEntries(entryIds: string[]): void {
    if (entryIds.length === 0) return;
    const s = this.keys.stream;
    Promise.all([
      this.#redis.xack(s, this.group, ...entryIds),
      this.#redis.xdel(s, ...entryIds),
    ]).catch((err) => this.#report(err, "dropping empty entries"));
  }

  /** Starts jobs delivered again (reclaimed, or own pending after a restart). */
  async #redeliver(entries: StreamEntry[], why: "reclaim" | "restart"): Promise<number> {
    const deliveries: Delivery[] = [];
    const empty: string[] = [];
    for (const [entryId, fields] of entries) {
      // Our own running job, idle past its lease because renewals failed (Redis was away): the
      // claim just renewed it; it must not start a second time here. One whose handler was
      // aborted for a lost lease is not running for the queue any more: it gets a fresh attempt.
      const held = this.#held.get(entryId);
      if (held && held.abortKind !== "lease") continue;
      const d = fields ? this.#parse(entryId, fields) : undefined;
      if (d) deliveries.push(d);
      else empty.push(entryId);
    }
    this.#dropEntries(empty);
    if (deliveries.length === 0) return 0;
    const k = this.keys;
    const keys = [k.stream, k.dead, k.stats];
    const args: (string | number)[] = [
      this.group,
      this.consumer,
      why === "reclaim"
        ? "Lease expired: the worker running the job stopped responding"
        : "The worker running the job stopped",
    ];
    for (const d of deliveries) {
      keys.push(k.job(d.jobId));
      if (d.dedupKey) keys.push(k.dedup(d.dedupKey));
      args.push(d.entryId, d.jobId, d.dedupKey ? "1" : "0");
    }
    const results = await this.#scripts.redeliverJobs(keys, args);
    let started = 0;
    deliveries.forEach((d, i) => {
      const r = results[i] ?? 0;
      if (r > 0) {
        d.attempt = r;
        const ref = this.#ref(d);
        this.counters.inc("reclaimed");
        this.events.emit("reclaimed", { job: ref });
        this.#log.info("took over a job", { job: d.jobId, attempt: r, why });
        this.#admit(d);
        started++;
      } else if (r === -1) {
        const error = new Error(String(args[2]));
        d.attempt = d.maxAttempts;
        this.#finisher.afterDead(d, this.#ref(d), error);
      }
    });
    return started;
  }

  /** Gives back entries read after close began, so another worker starts them at once. */
  async #handBack(entries: StreamEntry[]): Promise<void> {
    const ds = entries.map(([id, f]) => this.#parse(id, f)).filter((d) => d !== undefined);
    if (ds.length > 0) await this.#finisher.release(ds);
  }

  // ---- running ------------------------------------------------------------------------------

  #ref(d: Delivery): JobRef {
    let meta: JsonValue | undefined;
    try {
      meta = d.metaText === undefined ? undefined : JSON.parse(d.metaText);
    } catch {
      meta = undefined;
    }
    return {
      id: d.jobId,
      name: d.name,
      queue: this.queue,
      attempt: d.attempt,
      maxAttempts: d.maxAttempts,
      meta,
      enqueuedAt: d.enqueuedAt,
      entryId: d.entryId,
    };
  }

  /** Starts `d` in a free slot, or buffers it (read ahead) until one frees. */
  #admit(d: Delivery): void {
    const controller = new AbortController();
    const ref = this.#ref(d);
    const active: RunningJob = {
      delivery: d,
      ref,
      controller,
      abortKind: undefined,
      abortReason: undefined,
      done: Promise.resolve(),
      settled: false,
      startedAt: performance.now(),
    };
    this.#held.set(d.entryId, active);
    if (this.#inFlight < this.concurrency && this.#buffer.length === 0) this.#start(active);
    else {
      this.#buffer.push(active);
      if (this.prefetch === "auto") this.#watchStall();
    }
  }

  /**
   * `"auto"`: once the oldest buffered job has waited {@link AUTO_READ_AHEAD_STALL_MS}, a handler
   * runs far longer than the average said: the buffer goes back to the stream (another worker,
   * or this one once the handler ends, starts it) and none is read ahead until no handler runs
   * that long.
   */
  #watchStall(): void {
    if (this.#stallTimer !== undefined || this.#closing) return;
    const head = this.#buffer[0];
    if (!head) return;
    const wait = Math.max(0, head.startedAt + AUTO_READ_AHEAD_STALL_MS - performance.now());
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      const oldest = this.#buffer[0];
      if (!oldest || this.#closing) return;
      if (performance.now() - oldest.startedAt < AUTO_READ_AHEAD_STALL_MS) {
        this.#watchStall();
        return;
      }
      this.#stalled = true;
      this.#log.info("handing back read-ahead jobs stuck behind a long handler", {
        jobs: this.#buffer.length,
      });
      this.#releaseBuffered().catch((err) => this.#report(err, "handing back read-ahead jobs"))
        .finally(() => this.#reader.slotFreed());
    }, wait);
  }

  /** Records a handler's time for `"auto"`, and ends a stall once no handler runs that long. */
  #ran(a: RunningJob): void {
    if (this.prefetch !== "auto") return;
    const now = performance.now();
    const ms = now - a.startedAt;
    this.#runMs = this.#runMs === undefined
      ? ms
      : this.#runMs + RUN_TIME_WEIGHT * (ms - this.#runMs);
    if (this.#stalled) {
      let long = false;
      for (const r of this.#running.values()) {
        if (now - r.startedAt >= AUTO_READ_AHEAD_STALL_MS) long = true;
      }
      this.#stalled = long;
    }
  }

  #start(active: RunningJob): void {
    active.startedAt = performance.now();
    this.#inFlight++;
    this.#running.set(active.delivery.jobId, active);
    active.done = this.#runJob(active);
  }

  /** Starts buffered jobs in the free slots, oldest first (none once closing). */
  #startBuffered(): void {
    while (this.#inFlight < this.concurrency && this.#buffer.length > 0 && !this.#closing) {
      this.#start(this.#buffer.shift()!);
    }
  }

  /** Hands the buffered jobs back to the stream (at the tail, same attempt), unstarted. */
  async #releaseBuffered(): Promise<void> {
    const buffered = this.#buffer.splice(0);
    try {
      // A failure leaves them pending: taken over after their lease, as a dead worker's.
      await this.#handBackUnstarted(buffered.map((a) => a.delivery));
    } finally {
      for (const a of buffered) this.#forget(a);
    }
  }

  /** Hands read-ahead jobs that never started back to the stream, counted as `handedBack`. */
  async #handBackUnstarted(ds: Delivery[]): Promise<void> {
    if (ds.length === 0) return;
    this.counters.inc("handedBack", ds.length);
    await this.#finisher.release(ds);
  }

  async #runJob(a: RunningJob): Promise<void> {
    const d = a.delivery;
    const handler = this.#handlers.get(d.name);
    const job: Job = {
      ...a.ref,
      isLastAttempt: d.attempt >= d.maxAttempts,
      postpones: d.postpones,
      signal: a.controller.signal,
    };
    this.counters.inc("started");
    this.events.emit("started", { job: a.ref });
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown; final?: boolean };
    let payload: unknown = undefined;
    if (!handler) {
      outcome = {
        ok: false,
        error: new RetryLaterError(
          `No handler for task ${d.name} on worker ${this.consumer}`,
          this.#opts.unknownTaskDelayMs,
        ),
      };
    } else {
      const parsed = parsePayload(handler, d.data);
      if (!parsed.ok) {
        outcome = { ok: false, error: parsed.error, final: true };
      } else {
        payload = parsed.value;
        try {
          outcome = { ok: true, result: await handler.handle(payload, job) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
    }
    a.settled = true;
    // A fresh attempt of the same job (claimed back after this one lost its lease) may hold the
    // maps' slots by now: only this run's own entries are removed.
    if (this.#running.get(d.jobId) === a) this.#running.delete(d.jobId);
    this.#inFlight--;
    this.#ran(a);
    this.#startBuffered();
    this.#reader.slotFreed();

    switch (a.abortKind) {
      case "lease":
        // Another worker holds the job now (or it was removed): its outcome is theirs.
        this.#forget(a);
        return;
      case "shutdown":
        if (!outcome.ok) {
          await this.#finisher.finish(
            a,
            () => this.#finisher.release([d]),
            "handing back a stopped job",
          );
          return;
        }
        break;
      case "external":
        if (!outcome.ok) {
          this.#acks.add({ active: a, result: undefined, aborted: true });
          return;
        }
        break;
    }
    if (outcome.ok) {
      this.#acks.add({ active: a, result: outcome.result, aborted: false });
      return;
    }
    await this.#finisher.fail(a, handler, payload, asError(outcome.error), outcome.final === true);
  }

  /** Stops holding `a`'s entry, unless a fresh attempt holds it now. */
  #forget(a: RunningJob): void {
    if (this.#held.get(a.delivery.entryId) === a) this.#held.delete(a.delivery.entryId);
  }

  // ---- acks ---------------------------------------------------------------------------------

  // ---- leases -------------------------------------------------------------------------------

  #leaseLost(entryId: string, why: LeaseLoss): void {
    const a = this.#held.get(entryId);
    // Finished and acked meanwhile, or its finishing script will see the loss itself.
    if (!a || a.settled || a.controller.signal.aborted) return;
    const error = new LeaseLostError(a.delivery.jobId, why);
    const i = this.#buffer.indexOf(a);
    if (i >= 0) {
      // Read ahead and not started: another worker holds it now (or it was removed).
      this.#buffer.splice(i, 1);
      a.abortKind = "lease";
      a.controller.abort(error);
      this.#forget(a);
      this.counters.inc("leaseLost");
      this.#log.warn("lost a buffered job's lease; dropped it unstarted", {
        job: a.delivery.jobId,
      });
      this.#reader.slotFreed();
      return;
    }
    a.abortKind = "lease";
    a.controller.abort(error);
    this.counters.inc("leaseLost");
    this.events.emit("leaseLost", { job: a.ref, error });
    this.#log.warn("lost a job's lease; aborting its handler", { job: a.delivery.jobId });
  }

  // ---- closing ------------------------------------------------------------------------------

  async #waitForRunning(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#running.size === 0) return;
    await settlesWithin(Promise.all([...this.#running.values()].map((a) => a.done)), ms, {
      signal,
    });
  }

  async #waitForFinishing(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const pending = this.#finisher.pending;
      if (this.#acks.flushing) pending.push(this.#acks.flushing);
      // Handlers that settled during the grace are still finishing through `done`.
      for (const a of this.#held.values()) if (a.settled) pending.push(a.done);
      if (pending.length === 0) return;
      await settlesWithin(Promise.all(pending), deadline - Date.now());
    }
  }

  #report(err: unknown, during: string): void {
    const error = asError(err);
    this.#log.warn(`error ${during}`, { err: error });
    this.events.emit("error", { error, during });
  }
}

function positiveInt(what: string, field: string, v: number) {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${what}: ${field} must be a positive integer, got ${v}`);
  }
}
