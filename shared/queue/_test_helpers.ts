/** Helpers for the queue's tests (private). */
import type { TestRedis } from "../testing/redis.ts";
export { waitFor } from "../testing/wait.ts";
import { QueueWorker, type QueueWorkerOptions, type TaskHandler } from "./queue_worker.ts";

/** Short lease settings, so that takeovers happen quickly in tests. */
export const FAST: QueueWorkerOptions = {
  leaseMs: 800,
  heartbeatMs: 150,
  reclaimIntervalMs: 200,
  blockMs: 300,
  delayedPollMs: 50,
  shutdownTimeoutMs: 5000,
  abortGraceMs: 500,
};

/** Starts workers on `t` and closes them (forcefully, after the test's own close) afterwards. */
export class WorkerPool {
  readonly #t: TestRedis;
  readonly workers: QueueWorker[] = [];
  readonly runs: Promise<void>[] = [];

  constructor(t: TestRedis) {
    this.#t = t;
  }

  async start(
    handlers: TaskHandler[],
    options: QueueWorkerOptions = {},
    queue = "default",
  ): Promise<QueueWorker> {
    const w = new QueueWorker(queue, handlers, {
      ...FAST,
      redisUrl: this.#t.target,
      prefix: this.#t.prefix,
      consumer: `test-${this.workers.length}-${crypto.randomUUID().slice(0, 6)}`,
      ...options,
    });
    this.workers.push(w);
    this.runs.push(w.run());
    await w.waitUntilReady();
    return w;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(true)));
    await Promise.all(this.runs);
  }
}
