/**
 * All of the system's queues behind one object: enqueue routes a task to its queue, and the
 * look-ups (a job's state, dead letters, sizes) cover every queue. What the API, the scheduler
 * and the task layer hold.
 */
import type { Redis } from "ioredis";
import type { z } from "zod";
import { QUEUE_NAMES } from "../config/config.ts";
import type { DeadLetter, JobInfo, JobState, QueueDepth, QueueTotals } from "./job.ts";
import {
  type EnqueueOptions,
  type EnqueueResult,
  Queue,
  type QueueOptions,
  type RemoveResult,
} from "./queue.ts";
import type { TaskDefinition } from "./task.ts";

/** Options of {@link QueueClient}. */
export interface QueueClientOptions extends QueueOptions {
  /** Queues searched by the look-ups. @default {QUEUE_NAMES} */
  queues?: readonly string[];
}

export class QueueClient {
  readonly redis: Redis;
  readonly queueNames: readonly string[];
  readonly #options: QueueOptions;
  readonly #queues = new Map<string, Queue>();

  /** @param redis a command connection (not closed by the client). */
  constructor(redis: Redis, options: QueueClientOptions = {}) {
    const { queues = QUEUE_NAMES, ...rest } = options;
    this.redis = redis;
    this.queueNames = [...queues];
    this.#options = rest;
  }

  /** The queue named `name`. */
  queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, q = new Queue(this.redis, name, this.#options));
    return q;
  }

  /** Enqueues a job of `task` on the task's queue (see {@link Queue.enqueue}). */
  enqueue<S extends z.ZodType>(
    task: TaskDefinition<S>,
    payload: z.input<S>,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    return this.queue(task.queue).enqueue(task, payload, options);
  }

  /** Job `jobId` on `queue`, or on whichever queue has it when `queue` is not given. */
  async getJob(jobId: string, queue?: string): Promise<JobInfo | null> {
    for (const name of queue ? [queue] : this.queueNames) {
      const j = await this.queue(name).getJob(jobId);
      if (j) return j;
    }
    return null;
  }

  /**
   * Where job `jobId` is, or null when no queue holds it (completed, removed or never enqueued).
   * For reconcile: an operation that Postgres says is pending but whose job state is null has no
   * live job.
   */
  async getJobState(jobId: string, queue?: string): Promise<JobState | null> {
    return (await this.getJob(jobId, queue))?.state ?? null;
  }

  /** Removes job `jobId` (see {@link Queue.removeJob}) from `queue`, or from every queue. */
  async removeJob(
    jobId: string,
    options: { queue?: string; force?: boolean } = {},
  ): Promise<RemoveResult> {
    for (const name of options.queue ? [options.queue] : this.queueNames) {
      const r = await this.queue(name).removeJob(jobId, { force: options.force });
      if (r.state !== null) return r;
    }
    return { removed: false, state: null };
  }

  /** Dead letters of every queue (or of `queue`), newest first. */
  async listDeadLetters(options: { limit?: number; queue?: string } = {}): Promise<DeadLetter[]> {
    const { limit = 100, queue } = options;
    const lists = await Promise.all(
      (queue ? [queue] : this.queueNames).map((n) => this.queue(n).listDeadLetters({ limit })),
    );
    return lists.flat().sort((a, b) => b.failedAt - a.failedAt).slice(0, limit);
  }

  /** Runs dead job `jobId` again (see {@link Queue.requeueDeadLetter}). False when not dead. */
  async requeueDeadLetter(
    jobId: string,
    queue?: string,
    options: { payload?: unknown } = {},
  ): Promise<boolean> {
    for (const name of queue ? [queue] : this.queueNames) {
      if (await this.queue(name).requeueDeadLetter(jobId, options)) return true;
    }
    return false;
  }

  /** The size of every queue. */
  async depth(): Promise<Record<string, QueueDepth>> {
    const entries = await Promise.all(
      this.queueNames.map(async (n) => [n, await this.queue(n).depth()] as const),
    );
    return Object.fromEntries(entries);
  }

  /** The Redis-kept totals of every queue. */
  async totals(): Promise<Record<string, QueueTotals>> {
    const entries = await Promise.all(
      this.queueNames.map(async (n) => [n, await this.queue(n).totals()] as const),
    );
    return Object.fromEntries(entries);
  }
}
