/**
 * Consumes one queue: reads jobs from its stream through the consumer group, runs their
 * handlers with at most `concurrency` in flight, keeps their leases alive, and acks, retries or
 * buries each one only after its handler has settled.
 *
 * - Fetch: `XREADGROUP ... BLOCK` on a connection of its own, with a bounded block so close can
 *   interrupt it (`CLIENT UNBLOCK`). On start this consumer's own pending entries (a previous
 *   run with the same consumer name) are read first, then new ones (`>`).
 * - Lease: every `heartbeatMs` one script renews all held entries after checking each is still
 *   this consumer's; a lost lease aborts the handler's signal, and that entry is not renewed
 *   again (the aborted handler may take a while to stop; the job is no longer its to hold).
 *   Entries idle past `leaseMs` are taken over with `XAUTOCLAIM` by whichever worker has a free
 *   slot; the takeover counts as an attempt in the job hash (JUSTID claims do not raise the
 *   delivery count). A worker that claims back an entry whose handler it aborted for a lost lease
 *   starts a fresh attempt, as any other worker would.
 * - Finish: successes are acked in batches (one script call for every job finished while the
 *   previous call was in flight); failures go to the delayed set with backoff and jitter, or to
 *   the dead letters after the last attempt; a RetryLaterError postpones without spending an
 *   attempt, at most `maxPostpones` times.
 * - Close: stop fetching, let running handlers finish within `shutdownTimeoutMs`, abort the
 *   rest, hand back those that stopped and leave those that did not pending for reclaim.
 */
import type { Redis } from "ioredis";
import type { z } from "zod";
import { RetryLaterError } from "../errors.ts";
import { getLogger, type Logger } from "../log/logger.ts";
import { createRedis, KeySpace } from "../redis/redis.ts";
import { type Backoff, backoffDelay, resolveBackoff } from "./backoff.ts";
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
import type { TaskDefinition } from "./task.ts";
import {
  asError,
  errorMessage,
  fieldMap,
  hostName,
  isNoGroup,
  settlesWithin,
  sleep,
} from "./_util.ts";

/** Runs the jobs of one task. */
export interface TaskHandler<S extends z.ZodType = z.ZodType, R = unknown> {
  readonly task: TaskDefinition<S>;
  /**
   * Does the job. Its effects must be idempotent: a job runs at least once, and again after a
   * lost lease. Return a JSON-serialisable result (reported by the `completed` event). Throw to
   * fail the attempt; throw a RetryLaterError to run again later without spending an attempt.
   * Stop soon after `job.signal` fires, and keep the event loop free (a handler that blocks it
   * for longer than the lease loses the lease).
   */
  handle(payload: z.output<S>, job: Job): Promise<R> | R;
  /**
   * Runs once in the worker process when the job goes to the dead letters (e.g. to mark its
   * operation failed). `payload` is undefined when the payload itself was invalid.
   */
  onDead?(payload: z.output<S> | undefined, job: JobRef, error: Error): Promise<void> | void;
  /** Runs in the worker process after the job completed and was acked, with its result. */
  onCompleted?(result: R, job: JobRef): Promise<void> | void;
  /**
   * Runs in the worker process after an attempt failed and was recorded: `retry.delayMs` says
   * when it runs again; `retry` is undefined when it went to the dead letters (then `onDead`
   * runs too).
   */
  onFailed?(
    error: Error,
    job: JobRef,
    retry: { delayMs: number } | undefined,
  ): Promise<void> | void;
}

/** Builds a {@link TaskHandler}, inferring its payload type from the task's schema. */
export function taskHandler<S extends z.ZodType, R>(
  task: TaskDefinition<S>,
  handle: (payload: z.output<S>, job: Job) => Promise<R> | R,
  options: Pick<TaskHandler<S, R>, "onDead" | "onCompleted" | "onFailed"> = {},
): TaskHandler<S, R> {
  return { task, handle, ...options };
}

/** A job as events report it (a {@link Job} without its signal). */
export interface JobRef {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly meta: JsonValue | undefined;
  readonly enqueuedAt: number;
  readonly entryId: string;
}

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
  /** Redis to connect to when `redis`/`blockingRedis` are not given. @default {"redis://127.0.0.1:6379"} */
  redisUrl?: string;
  /** A command connection to share (not closed by the worker). @default {a new one} */
  redis?: Redis;
  /** Makes the worker's blocking connection (closed by the worker). @default {a new one} */
  blockingRedis?: () => Redis;
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

interface Delivery {
  entryId: string;
  jobId: string;
  name: string;
  data: string;
  attempt: number;
  maxAttempts: number;
  backoff: Backoff;
  enqueuedAt: number;
  metaText: string | undefined;
  dedupKey: string | undefined;
  postpones: number;
}

type AbortKind = "lease" | "shutdown" | "external";

interface Active {
  delivery: Delivery;
  ref: JobRef;
  controller: AbortController;
  abortKind: AbortKind | undefined;
  abortReason: string | undefined;
  /** Resolves when the handler settled and its outcome was recorded (or given up on). */
  done: Promise<void>;
  settled: boolean;
  startedAt: number;
}

interface AckItem {
  active: Active;
  result: unknown;
  aborted: boolean;
}

export class QueueWorker {
  readonly queue: string;
  readonly consumer: string;
  readonly group: string;
  readonly keys: QueueKeys;
  readonly concurrency: number;
  readonly events: TypedEmitter<QueueWorkerEvents>;
  readonly counters: QueueCounters = new QueueCounters();

  readonly #handlers = new Map<string, TaskHandler>();
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  readonly #makeBlocking: () => Redis;
  #blocking: Redis | undefined;
  #blockingId: number | undefined;
  readonly #scripts: QueueScripts;
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
  readonly #held = new Map<string, Active>();
  /** Running handlers by job id, for {@link abortJob}. */
  readonly #running = new Map<string, Active>();
  #inFlight = 0;
  #slotFreed: (() => void) | undefined;
  #acks: AckItem[] = [];
  #ackLoop: Promise<void> | undefined;
  readonly #finishing = new Set<Promise<void>>();
  readonly #backoffCache = new Map<string, Backoff>();
  #claimCursor = "0-0";

  #started = false;
  #stopFetching = new AbortController();
  readonly #force = new AbortController();
  #closing: Promise<void> | undefined;
  #fetchLoop: Promise<void> | undefined;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;
  #ready: PromiseWithResolvers<void> = Promise.withResolvers();
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
    this.#makeBlocking = options.blockingRedis ??
      (() => createRedis(redisUrl, { name: `worker:${queue}:read`, blocking: true }));
    this.#scripts = new QueueScripts(this.#redis);
    this.#mover = new DelayedMover(this.keys, this.#scripts, {
      pollMs: delayedPollMs,
      onError: (err) => this.#report(err, "moving delayed jobs"),
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
    this.#blocking = this.#makeBlocking();
    this.#blocking.on("error", () => {/* reconnects by itself; the read loop reports */});
    // A reconnected connection has a new client id; learn it again before the next read.
    this.#blocking.on("close", () => (this.#blockingId = undefined));
    this.#fetchLoop = this.#fetch();
    this.#renewTimer = setInterval(() => this.#renewLeases(), this.#opts.heartbeatMs);
    this.#mover.start();
    return this.#stopped.promise;
  }

  /** Resolves once the consumer group exists and the worker reads jobs. */
  waitUntilReady(): Promise<void> {
    return this.#ready.promise;
  }

  /**
   * Aborts job `jobId` if its handler runs in this worker: its signal fires with a
   * {@link JobAbortedError}. If the handler then throws, the job is removed (no retry) and
   * `aborted` is emitted; if it returns, the job completes. Returns whether the job ran here.
   */
  abortJob(jobId: string, reason: string): boolean {
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
    this.#stopFetching.abort();
    this.#slotFreed?.();
    await step("stopping the reader", () => this.#stopReader());
    await step("stopping the delayed mover", () => this.#mover.stop());
    await step(
      "waiting for running jobs",
      () => this.#waitForRunning(this.#opts.shutdownTimeoutMs, this.#force.signal),
    );
    await step("aborting running jobs", async () => {
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
    clearInterval(this.#renewTimer);
    // Bounded: during a Redis outage a command can wait through many reconnects.
    await step("renewing leases", async () => void await settlesWithin(this.#renewing, 2000));
    await step("closing connections", () => {
      this.#blocking?.disconnect();
      if (this.#ownsRedis) this.#redis.disconnect();
    });
    this.#ready.resolve();
    this.#stopped.resolve();
  }

  // ---- fetching -----------------------------------------------------------------------------

  async #fetch(): Promise<void> {
    const stop = this.#stopFetching.signal;
    let failures = 0;
    // Own pending entries first (a restarted worker with the same name), then new ones.
    let ownCursor: string | undefined = "0";
    let lastReclaim = 0;
    let groupReady = false;
    while (!stop.aborted) {
      try {
        if (!groupReady) {
          await this.#ensureGroup();
          groupReady = true;
          this.#ready.resolve();
        }
        const free = await this.#waitForSlot();
        if (free === 0) break;
        if (ownCursor !== undefined) {
          const entries = await this.#readGroup(free, ownCursor, undefined);
          if (entries.length === 0) {
            ownCursor = undefined;
            continue;
          }
          ownCursor = entries[entries.length - 1]![0];
          await this.#redeliver(entries, "restart");
          continue;
        }
        const now = Date.now();
        const sinceReclaim = now - lastReclaim;
        if (sinceReclaim >= this.#opts.reclaimIntervalMs) {
          lastReclaim = now;
          if (await this.#reclaim(free) > 0) continue;
        }
        const block = Math.max(
          1,
          Math.min(this.#opts.blockMs, this.#opts.reclaimIntervalMs - (Date.now() - lastReclaim)),
        );
        if (this.#blockingId === undefined) {
          this.#blockingId = Number(await this.#blocking!.client("ID"));
        }
        const entries = await this.#readGroup(free, ">", block);
        if (stop.aborted) {
          await this.#handBack(entries);
          break;
        }
        for (const [entryId, fields] of entries) this.#startFresh(entryId, fields);
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        if (isNoGroup(err)) {
          // The stream or group is gone (a flush, a restart without persistence): recreate it.
          groupReady = false;
          ownCursor = undefined;
          this.#log.warn("consumer group missing; creating it again");
          continue;
        }
        failures++;
        this.#report(err, "reading jobs");
        await sleep(Math.min(100 * 2 ** Math.min(failures, 6), 5000), stop);
      }
    }
  }

  async #ensureGroup(): Promise<void> {
    try {
      await this.#redis.call("XGROUP", ["CREATE", this.keys.stream, this.group, "0", "MKSTREAM"]);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("BUSYGROUP"))) throw err;
    }
  }

  /** Resolves with the number of free slots once there is one, or 0 when fetching stops. */
  async #waitForSlot(): Promise<number> {
    const stop = this.#stopFetching.signal;
    while (this.#inFlight >= this.concurrency && !stop.aborted) {
      await new Promise<void>((resolve) => (this.#slotFreed = resolve));
      this.#slotFreed = undefined;
    }
    return stop.aborted ? 0 : this.concurrency - this.#inFlight;
  }

  async #readGroup(
    count: number,
    from: string,
    blockMs: number | undefined,
  ): Promise<[string, unknown][]> {
    const args: (string | number)[] = ["GROUP", this.group, this.consumer, "COUNT", count];
    if (blockMs !== undefined) args.push("BLOCK", blockMs);
    args.push("STREAMS", this.keys.stream, from);
    // The typed command, not `call`: on RESP3 connections it turns the reply's map back into
    // the `[[stream, entries]]` shape.
    const read = this.#blocking!.xreadgroup as unknown as (...a: (string | number)[]) => Promise<
      [string, [string, unknown][]][] | null
    >;
    const reply = await read.apply(this.#blocking, args);
    return reply?.[0]?.[1] ?? [];
  }

  /** Ends the read loop: unblocks a waiting XREADGROUP so that it returns cleanly. */
  async #stopReader(): Promise<void> {
    const loop = this.#fetchLoop;
    if (!loop) return;
    if (this.#blockingId !== undefined) {
      // Not awaited: with Redis down it would wait through reconnects; the race below bounds it.
      this.#redis.call("CLIENT", ["UNBLOCK", this.#blockingId]).catch(() => {});
    }
    if (!(await settlesWithin(loop, this.#opts.blockMs + 1000))) {
      // Entries delivered to a dropped read stay pending for this consumer until reclaimed.
      this.#blocking?.disconnect();
      await loop;
    }
  }

  #parse(entryId: string, fields: unknown): Delivery | undefined {
    const f = fieldMap(fields);
    const jobId = f.get("id");
    const name = f.get("n");
    if (!jobId || !name) return undefined;
    const b = f.get("b") ?? "{}";
    let backoff = this.#backoffCache.get(b);
    if (!backoff) {
      try {
        backoff = resolveBackoff(JSON.parse(b));
      } catch {
        backoff = resolveBackoff({});
      }
      if (this.#backoffCache.size < 100) this.#backoffCache.set(b, backoff);
    }
    return {
      entryId,
      jobId,
      name,
      data: f.get("d") ?? "null",
      attempt: Number(f.get("a") ?? 1),
      maxAttempts: Number(f.get("x") ?? 1),
      backoff,
      enqueuedAt: Number(f.get("t") ?? 0),
      metaText: f.get("m"),
      dedupKey: f.get("k"),
      postpones: Number(f.get("p") ?? 0),
    };
  }

  #startFresh(entryId: string, fields: unknown): void {
    const d = this.#parse(entryId, fields);
    if (d) this.#start(d);
    else this.#dropEntries([entryId]);
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

  /** Takes over entries idle past the lease. Returns how many jobs it started. */
  async #reclaim(free: number): Promise<number> {
    // XAUTOCLAIM scans a bounded part of the pending list per call; the cursor carries the scan
    // over live entries at the front to idle ones further on.
    for (let round = 0; round < 10; round++) {
      const reply = await this.#redis.call("XAUTOCLAIM", [
        this.keys.stream,
        this.group,
        this.consumer,
        this.#opts.leaseMs,
        this.#claimCursor,
        "COUNT",
        free,
      ]) as [string, [string, unknown][], string[]?];
      this.#claimCursor = reply[0] ?? "0-0";
      const entries = reply[1] ?? [];
      if (entries.length > 0) return await this.#redeliver(entries, "reclaim");
      if (this.#claimCursor === "0-0") return 0;
    }
    return 0;
  }

  /** Starts jobs delivered again (reclaimed, or own pending after a restart). */
  async #redeliver(entries: [string, unknown][], why: "reclaim" | "restart"): Promise<number> {
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
        this.#start(d);
        started++;
      } else if (r === -1) {
        const error = new Error(String(args[2]));
        d.attempt = d.maxAttempts;
        this.#afterDead(d, this.#ref(d), error);
      }
    });
    return started;
  }

  /** Gives back entries read after close began, so another worker starts them at once. */
  async #handBack(entries: [string, unknown][]): Promise<void> {
    const ds = entries.map(([id, f]) => this.#parse(id, f)).filter((d) => d !== undefined);
    if (ds.length > 0) await this.#release(ds);
  }

  async #release(ds: Delivery[]): Promise<void> {
    const keys = [this.keys.stream, ...ds.map((d) => this.keys.job(d.jobId))];
    const args: (string | number)[] = [this.group, this.consumer];
    for (const d of ds) args.push(d.entryId, d.jobId, d.attempt);
    await this.#scripts.releaseJobs(keys, args);
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

  #start(d: Delivery): void {
    const controller = new AbortController();
    const ref = this.#ref(d);
    const active: Active = {
      delivery: d,
      ref,
      controller,
      abortKind: undefined,
      abortReason: undefined,
      done: Promise.resolve(),
      settled: false,
      startedAt: performance.now(),
    };
    this.#inFlight++;
    this.#held.set(d.entryId, active);
    this.#running.set(d.jobId, active);
    active.done = this.#runJob(active);
  }

  async #runJob(a: Active): Promise<void> {
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
    this.#slotFreed?.();

    switch (a.abortKind) {
      case "lease":
        // Another worker holds the job now (or it was removed): its outcome is theirs.
        this.#forget(a);
        return;
      case "shutdown":
        if (!outcome.ok) {
          await this.#finish(a, () => this.#release([d]), "handing back a stopped job");
          return;
        }
        break;
      case "external":
        if (!outcome.ok) {
          this.#queueAck({ active: a, result: undefined, aborted: true });
          return;
        }
        break;
    }
    if (outcome.ok) {
      this.#queueAck({ active: a, result: outcome.result, aborted: false });
      return;
    }
    await this.#fail(a, handler, payload, asError(outcome.error), outcome.final === true);
  }

  /** Runs a finishing script for `a`, keeping its lease until the script answered. */
  async #finish(a: Active, fn: () => Promise<void>, during: string): Promise<void> {
    const p = (async () => {
      for (let tries = 0;; tries++) {
        try {
          await fn();
          return;
        } catch (err) {
          this.#report(err, during);
          // Give up eventually: the entry stays pending and is reclaimed after its lease.
          if (tries >= 4 || this.#closing) return;
          await sleep(200 * 2 ** tries);
        }
      }
    })();
    this.#finishing.add(p);
    try {
      await p;
    } finally {
      this.#finishing.delete(p);
      this.#forget(a);
    }
  }

  /** Stops holding `a`'s entry, unless a fresh attempt holds it now. */
  #forget(a: Active): void {
    if (this.#held.get(a.delivery.entryId) === a) this.#held.delete(a.delivery.entryId);
  }

  /**
   * Moves a running job to the delayed set, due in `delayMs`: a retry (spends an attempt) or a
   * postponement (does not). Returns when it becomes due (0 when the lease was lost meanwhile).
   */
  async #reschedule(
    a: Active,
    delayMs: number,
    error: Error,
    kind: "retry" | "postpone",
  ): Promise<number> {
    const d = a.delivery;
    const k = this.keys;
    let due = 0;
    await this.#finish(a, async () => {
      due = await this.#scripts.retryJob([k.stream, k.delayed, k.job(d.jobId), k.stats], [
        this.group,
        this.consumer,
        d.entryId,
        d.jobId,
        delayMs,
        errorMessage(error),
        kind,
      ]);
    }, kind === "retry" ? "scheduling a retry" : "postponing a job");
    return due;
  }

  async #fail(
    a: Active,
    handler: TaskHandler | undefined,
    payload: unknown,
    error: Error,
    final: boolean,
  ): Promise<void> {
    const d = a.delivery;
    const k = this.keys;
    if (!final && error instanceof RetryLaterError && d.postpones < this.#opts.maxPostpones) {
      const delayMs = Math.min(
        Math.max(0, Math.round(error.delayMs) || 0),
        this.#opts.maxPostponeMs,
      );
      const r = await this.#reschedule(a, delayMs, error, "postpone");
      if (r > 0) {
        this.#mover.wake(delayMs);
        this.counters.inc("postponed");
        this.events.emit("postponed", { job: a.ref, error, delayMs, dueAt: r });
      }
      return;
    }
    this.counters.inc("failed");
    if (!final && d.attempt < d.maxAttempts) {
      const delayMs = backoffDelay(d.attempt, d.backoff, { random: this.#opts.random });
      const r = await this.#reschedule(a, delayMs, error, "retry");
      if (r > 0) {
        this.#mover.wake(delayMs);
        this.counters.inc("retried");
        this.events.emit("failed", { job: a.ref, error, willRetry: true, delayMs, dueAt: r });
        if (handler?.onFailed) {
          this.#hook(
            `onFailed of task ${d.name}`,
            () => handler.onFailed!(error, a.ref, { delayMs }),
          );
        }
        this.#log.warn("job failed; will retry", {
          job: d.jobId,
          task: d.name,
          attempt: d.attempt,
          delay_ms: delayMs,
          err: error,
        });
      }
      return;
    }
    let r: string | number = 0;
    await this.#finish(a, async () => {
      const keys = [k.stream, k.dead, k.job(d.jobId), k.stats];
      if (d.dedupKey) keys.push(k.dedup(d.dedupKey));
      r = await this.#scripts.moveToDead(keys, [
        this.group,
        this.consumer,
        d.entryId,
        d.jobId,
        errorMessage(error),
        d.attempt,
      ]);
    }, "moving a job to the dead letters");
    if (typeof r === "string") {
      this.events.emit("failed", {
        job: a.ref,
        error,
        willRetry: false,
        delayMs: undefined,
        dueAt: undefined,
      });
      if (handler?.onFailed) {
        this.#hook(`onFailed of task ${d.name}`, () => handler.onFailed!(error, a.ref, undefined));
      }
      this.#afterDead(d, a.ref, error, handler, payload);
    }
  }

  #afterDead(
    d: Delivery,
    ref: JobRef,
    error: Error,
    handler = this.#handlers.get(d.name),
    payload?: unknown,
  ): void {
    this.counters.inc("dead");
    this.events.emit("dead", { job: ref, error });
    this.#log.error("job is dead", { job: d.jobId, task: d.name, attempt: d.attempt, err: error });
    if (!handler?.onDead) return;
    if (payload === undefined) {
      const parsed = parsePayload(handler, d.data);
      payload = parsed.ok ? parsed.value : undefined;
    }
    this.#hook(`onDead of task ${d.name}`, () => handler.onDead!(payload, ref, error));
  }

  /** Runs a handler's hook; close waits for it, and what it throws is only reported. */
  #hook(what: string, fn: () => Promise<void> | void): void {
    const p = (async () => {
      try {
        await fn();
      } catch (err) {
        this.#report(err, `running ${what}`);
      }
    })();
    this.#finishing.add(p);
    p.finally(() => this.#finishing.delete(p));
  }

  // ---- acks ---------------------------------------------------------------------------------

  #queueAck(item: AckItem): void {
    this.#acks.push(item);
    this.#ackLoop ??= this.#flushAcks().finally(() => (this.#ackLoop = undefined));
  }

  async #flushAcks(): Promise<void> {
    let failures = 0;
    while (this.#acks.length > 0) {
      const batch = this.#acks.splice(0, this.#opts.ackBatchSize);
      const k = this.keys;
      const keys = [k.stream, k.stats];
      const args: (string | number)[] = [this.group, this.consumer];
      for (const { active: { delivery: d } } of batch) {
        keys.push(k.job(d.jobId));
        if (d.dedupKey) keys.push(k.dedup(d.dedupKey));
        args.push(d.entryId, d.jobId, d.dedupKey ? "1" : "0");
      }
      let results: number[];
      try {
        results = await this.#scripts.completeJobs(keys, args);
        failures = 0;
      } catch (err) {
        this.#report(err, "acking finished jobs");
        failures++;
        if (failures > 5 && this.#closing) {
          // Unacked entries stay pending and are run again after their lease: at least once.
          for (const { active } of batch) this.#forget(active);
          continue;
        }
        this.#acks.unshift(...batch);
        await sleep(Math.min(100 * 2 ** failures, 5000));
        continue;
      }
      const now = performance.now();
      batch.forEach(({ active, result, aborted }, i) => {
        this.#forget(active);
        if (results[i] !== 1) return;
        if (aborted) {
          this.counters.inc("aborted");
          this.events.emit("aborted", { job: active.ref, reason: active.abortReason ?? "" });
        } else {
          this.counters.inc("completed");
          this.events.emit("completed", {
            job: active.ref,
            result,
            durationMs: now - active.startedAt,
          });
          const h = this.#handlers.get(active.delivery.name);
          if (h?.onCompleted) {
            this.#hook(
              `onCompleted of task ${h.task.name}`,
              () => h.onCompleted!(result, active.ref),
            );
          }
        }
      });
    }
  }

  // ---- leases -------------------------------------------------------------------------------

  #renewLeases(): void {
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = (async () => {
      // An entry whose handler was aborted for a lost lease is not this worker's to keep: renewing
      // it would keep every other worker from taking the job while that handler winds down.
      const ids = [...this.#held].filter(([, a]) => a.abortKind !== "lease").map(([id]) => id);
      for (let i = 0; i < ids.length; i += 1000) {
        const chunk = ids.slice(i, i + 1000);
        const results = await this.#scripts.renewLeases(
          [this.keys.stream],
          [this.group, this.consumer, ...chunk],
        );
        chunk.forEach((entryId, j) => {
          const r = results[j];
          if (r === 1) return;
          const a = this.#held.get(entryId);
          // Finished and acked meanwhile, or its finishing script will see the loss itself.
          if (!a || a.settled || a.controller.signal.aborted) return;
          const error = new LeaseLostError(a.delivery.jobId, r === -1 ? "taken" : "gone");
          a.abortKind = "lease";
          a.controller.abort(error);
          this.counters.inc("leaseLost");
          this.events.emit("leaseLost", { job: a.ref, error });
          this.#log.warn("lost a job's lease; aborting its handler", { job: a.delivery.jobId });
        });
      }
    })().catch((err) => this.#report(err, "renewing leases")).finally(() => {
      this.#renewing = undefined;
    });
  }

  // ---- closing ------------------------------------------------------------------------------

  async #waitForRunning(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#running.size === 0) return;
    await settlesWithin(Promise.all([...this.#running.values()].map((a) => a.done)), ms, signal);
  }

  async #waitForFinishing(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const pending = [...this.#finishing];
      if (this.#ackLoop) pending.push(this.#ackLoop);
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

function parsePayload(
  handler: TaskHandler,
  data: string,
): { ok: true; value: unknown } | { ok: false; error: Error } {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch (err) {
    return {
      ok: false,
      error: new Error(`Invalid payload for task ${handler.task.name}: ${errorMessage(err)}`),
    };
  }
  const r = handler.task.schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`);
    return {
      ok: false,
      error: new TypeError(`Invalid payload for task ${handler.task.name}: ${issues.join("; ")}`),
    };
  }
  return { ok: true, value: r.data };
}

function positiveInt(what: string, field: string, v: number) {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${what}: ${field} must be a positive integer, got ${v}`);
  }
}
