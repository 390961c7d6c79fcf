/**
 * The worker process's runtime: one {@link QueueWorker} per served queue, sharing a command
 * connection, plus the liveness heartbeat. What `deno task worker` and `deno task dev` run.
 *
 * Job slots are per queue. `default` gets `min(cpus - 1, WORKER_MAX_CONCURRENCY)` (at least 1).
 * `embed` gets `EMBEDDING_CONCURRENCY_PER_WORKER`: its jobs do nothing but embed under the
 * embedding semaphore, so more slots would only hold jobs waiting for a permit while another
 * worker's GPU idles; and with their own slots, query embeddings never wait behind long
 * `process_source` jobs.
 */
import type { Redis } from "ioredis";
import {
  type CounterSnapshot,
  createRedis,
  getLogger,
  hostName,
  type Listener,
  type Logger,
  QueueWorker,
  type QueueWorkerEvents,
  type QueueWorkerOptions,
  type RedisTarget,
  settlesWithin,
  type TaskHandler,
} from "@semantik/shared";
import { Liveness } from "./liveness.ts";
import { Semaphore } from "./semaphore.ts";

/** `min(cpus - 1, max)`, at least 1. */
export function jobSlots(cpus: number, max: number): number {
  return Math.max(1, Math.min(Math.floor(cpus) - 1, Math.floor(max)));
}

/** Options of {@link WorkerRuntime}. */
export interface WorkerRuntimeOptions {
  /** A URL or a {@link RedisTarget} (cluster, sentinel). @default {"redis://127.0.0.1:6379"} */
  redisUrl?: RedisTarget | string;
  /** A command connection to share (not closed by the runtime). @default {a new one} */
  redis?: Redis;
  /** `REDIS_PREFIX`. @default {"semantik:"} */
  prefix?: string;
  /** Queues to serve (`WORKER_QUEUES`). @default {["default", "embed"]} */
  queues?: readonly string[];
  /** Handlers of every task this worker runs; each goes to its task's queue. @default {[]} */
  handlers?: readonly TaskHandler[];
  /** Job slots of the `default` queue (and any queue but `embed`). @default {jobSlots(cpus, 4)} */
  concurrency?: number;
  /** Permits of the embedding semaphore, and slots of the `embed` queue. @default {1} */
  embeddingConcurrency?: number;
  /** A semaphore to use instead of a new one (handlers built before the runtime hold it). @default {new Semaphore(embeddingConcurrency)} */
  embeddingSemaphore?: Semaphore;
  /** Grace for running jobs on close (`WORKER_SHUTDOWN_TIMEOUT_S`), in ms. @default {30000} */
  shutdownTimeoutMs?: number;
  /** Host name reported in the heartbeat and used by the health check. @default {Deno.hostname()} */
  host?: string;
  /** Consumer name base; each queue's consumer is `<consumer>` too (names are per stream). @default {"<host>:<pid>"} */
  consumer?: string;
  /** Lease and polling settings for every queue worker. @default {{}} */
  queueOptions?: Omit<
    QueueWorkerOptions,
    "redis" | "redisUrl" | "prefix" | "consumer" | "concurrency" | "shutdownTimeoutMs" | "logger"
  >;
  /** Liveness beat interval, in ms. @default {5000} */
  livenessIntervalMs?: number;
  /** @default {getLogger("worker")} */
  logger?: Logger;
}

export class WorkerRuntime {
  readonly consumer: string;
  readonly host: string;
  readonly queues: readonly string[];
  readonly embeddingSemaphore: Semaphore;
  /** One worker per served queue. */
  readonly workers: ReadonlyMap<string, QueueWorker>;
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  readonly #liveness: Liveness;
  readonly #log: Logger;
  #started = false;
  #closing: Promise<void> | undefined;
  #runs: Promise<void>[] = [];

  constructor(options: WorkerRuntimeOptions = {}) {
    const {
      redisUrl = "redis://127.0.0.1:6379",
      prefix = "semantik:",
      queues = ["default", "embed"],
      handlers = [],
      concurrency = jobSlots(navigator.hardwareConcurrency ?? 2, 4),
      embeddingConcurrency = 1,
      shutdownTimeoutMs = 30_000,
      host = hostName(),
      livenessIntervalMs = 5000,
      queueOptions = {},
    } = options;
    const { consumer = `${host}:${Deno.pid}` } = options;
    if (queues.length === 0) throw new RangeError("Cannot create worker: no queues to serve");
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `Cannot create worker: concurrency must be a positive integer, got ${concurrency}`,
      );
    }
    this.host = host;
    this.consumer = consumer;
    this.queues = [...queues];
    this.#log = (options.logger ?? getLogger("worker")).child({ consumer });
    this.embeddingSemaphore = options.embeddingSemaphore ?? new Semaphore(embeddingConcurrency);
    this.#ownsRedis = options.redis === undefined;
    this.#redis = options.redis ?? createRedis(redisUrl, { name: "worker:cmd" });
    if (this.#ownsRedis) this.#redis.on("error", () => {/* reconnects; callers report */});

    const workers = new Map<string, QueueWorker>();
    for (const queue of queues) {
      // Handlers of queues not served here are left out: the registry builds them all.
      const mine = handlers.filter((h) => h.task.queue === queue);
      workers.set(
        queue,
        new QueueWorker(queue, mine, {
          ...queueOptions,
          redis: this.#redis,
          redisUrl,
          prefix,
          consumer,
          concurrency: queue === "embed" ? this.embeddingSemaphore.permits : concurrency,
          shutdownTimeoutMs,
          logger: this.#log,
        }),
      );
    }
    this.workers = workers;
    this.#liveness = new Liveness(this.#redis, {
      consumer,
      host,
      pid: Deno.pid,
      queues: [...queues],
    }, {
      prefix,
      intervalMs: livenessIntervalMs,
      running: () => [...workers.values()].reduce((n, w) => n + w.runningCount, 0),
      onError: (err) => this.#log.warn("liveness beat failed", { err }),
    });
  }

  /**
   * Starts every queue worker and the heartbeat. Resolves when the runtime has closed; rejects at
   * once when called twice or after close.
   */
  async run(): Promise<void> {
    if (this.#closing) throw new Error("Cannot run worker: it was closed");
    if (this.#started) throw new Error("Cannot run worker: it is already running");
    this.#started = true;
    this.#runs = [...this.workers.values()].map((w) => w.run());
    this.#log.info("worker started", {
      queues: this.queues.join(","),
      slots: [...this.workers.values()].map((w) => `${w.queue}=${w.concurrency}`).join(","),
      embedding_permits: this.embeddingSemaphore.permits,
    });
    // Never throws: with Redis down at start the beat is retried every interval.
    await this.#liveness.start();
    await Promise.all(this.#runs);
  }

  /** Resolves once every queue worker reads jobs. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.waitUntilReady()));
  }

  /** Aborts job `jobId` if it runs in this process (see {@link QueueWorker.abortJob}). */
  abortJob(jobId: string, reason: string): boolean {
    for (const w of this.workers.values()) if (w.abortJob(jobId, reason)) return true;
    return false;
  }

  /** Listens to `event` on every queue worker; returns a function that stops listening. */
  on<K extends keyof QueueWorkerEvents>(
    event: K,
    listener: Listener<QueueWorkerEvents[K]>,
  ): () => void {
    const offs = [...this.workers.values()].map((w) => w.events.on(event, listener));
    return () => offs.forEach((off) => off());
  }

  /** In-process counters per queue. */
  counters(): Record<string, CounterSnapshot> {
    return Object.fromEntries([...this.workers].map(([q, w]) => [q, w.counters.snapshot()]));
  }

  /** Jobs running in this process now. */
  get runningCount(): number {
    let n = 0;
    for (const w of this.workers.values()) n += w.runningCount;
    return n;
  }

  /**
   * Stops fetching on every queue, lets running jobs finish within the shutdown grace (abort
   * them at once with `force`; a forced call also cuts short a graceful close in progress),
   * then withdraws the heartbeat. The same promise for every call; never rejects.
   */
  close(force = false): Promise<void> {
    if (force) { for (const w of this.workers.values()) void w.close(true); }
    this.#closing ??= (async () => {
      this.#log.info("worker stopping", { running: this.runningCount });
      await Promise.all([...this.workers.values()].map((w) => w.close(force)));
      // Bounded: with Redis down the heartbeat simply expires.
      const withdrawn = this.#liveness.stop().catch((err) =>
        this.#log.warn("withdrawing the liveness beat failed", { err })
      );
      await settlesWithin(withdrawn, 2000);
      if (this.#ownsRedis) this.#redis.disconnect();
      this.#log.info("worker stopped");
    })();
    return this.#closing;
  }
}
