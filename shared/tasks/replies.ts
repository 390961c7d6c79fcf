/**
 * Request/reply over the queue: the caller enqueues a job whose `meta.replyTo` names its process's
 * reply stream and awaits the result with a timeout; the worker, after the handler returns, adds
 * the result to that stream. One blocking reader per process serves every pending request, so the
 * number of Redis connections does not grow with the number of callers.
 */
import type { Redis } from "ioredis";
import type { z } from "zod";
import { AppError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { KeySpace } from "../redis/redis.ts";
import type { QueueClient } from "../queue/queue_client.ts";
import type { JsonValue } from "../queue/job.ts";
import type { JobRef, TaskHandler } from "../queue/queue_worker.ts";
import type { TaskDefinition } from "../queue/task.ts";

/** How long a reply stream outlives its last reply, in seconds. */
const REPLY_STREAM_TTL_S = 600;
const REPLY_STREAM_MAXLEN = 1000;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Options of {@link ReplyClient}. */
export interface ReplyClientOptions {
  /** Default wait for a reply, in ms. @default {30000} */
  timeoutMs?: number;
  /** Longest blocking read, in ms (bounds how long close waits). @default {1000} */
  blockMs?: number;
  /** @default {a random id} */
  processId?: string;
}

export class ReplyClient {
  readonly streamKey: string;
  readonly #queues: QueueClient;
  readonly #makeReader: () => Redis;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #blockMs: number;
  readonly #pending = new Map<string, Pending>();
  #reader: Redis | undefined;
  #loop: Promise<void> | undefined;
  #lastId = "0-0";
  #closed = false;

  /**
   * @param makeReader opens the dedicated connection of the blocking reader (closed by close()).
   */
  constructor(
    queues: QueueClient,
    keys: KeySpace,
    makeReader: () => Redis,
    log: Logger,
    options: ReplyClientOptions = {},
  ) {
    const { timeoutMs = 30_000, blockMs = 1000, processId = crypto.randomUUID() } = options;
    this.streamKey = keys.key("replies", processId);
    this.#queues = queues;
    this.#makeReader = makeReader;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    this.#blockMs = blockMs;
  }

  /** Requests waiting for their reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Enqueues a job of `task` and resolves with its handler's result. Rejects with a 503
   * `unavailable` AppError when no reply comes within the timeout (the job is removed if it has
   * not started), and with the job's error when it failed for good.
   */
  async request<S extends z.ZodType, R = unknown>(
    task: TaskDefinition<S>,
    payload: z.input<S>,
    options: { timeoutMs?: number } = {},
  ): Promise<R> {
    if (this.#closed) throw new Error("Cannot send request: the reply client is closed");
    this.#ensureReader();
    const jobId = crypto.randomUUID();
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const result = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(async () => {
        this.#pending.delete(jobId);
        // Nobody waits for it any more: take it out of the queue unless a worker started it.
        await this.#queues.removeJob(jobId).catch(() => {});
        reject(
          new AppError(
            "unavailable",
            `No worker answered ${task.name} within ${timeoutMs} ms (is a worker serving the ${task.queue} queue?)`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(jobId, { resolve: resolve as (v: unknown) => void, reject, timer });
    });
    try {
      await this.#queues.enqueue(task, payload, {
        jobId,
        meta: { replyTo: this.streamKey } as JsonValue,
      });
    } catch (err) {
      const p = this.#pending.get(jobId);
      if (p) {
        clearTimeout(p.timer);
        this.#pending.delete(jobId);
      }
      throw err;
    }
    return await result;
  }

  #ensureReader(): void {
    if (this.#loop) return;
    this.#reader = this.#makeReader();
    this.#loop = this.#read(this.#reader);
  }

  async #read(reader: Redis): Promise<void> {
    while (!this.#closed) {
      try {
        const res = await reader.xread(
          "COUNT",
          256,
          "BLOCK",
          this.#blockMs,
          "STREAMS",
          this.streamKey,
          this.#lastId,
        ) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            this.#lastId = id;
            this.#settle(fields);
          }
        }
      } catch (err) {
        if (this.#closed) return;
        // Background loops never throw: report and carry on after a short pause.
        this.#log.warn("reply reader error", { err });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  #settle(fields: string[]): void {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
    const jobId = f.get("job");
    const p = jobId ? this.#pending.get(jobId) : undefined;
    if (!p || !jobId) return; // a duplicate (re-run job) or a request that already timed out
    this.#pending.delete(jobId);
    clearTimeout(p.timer);
    if (f.get("ok") === "1") {
      try {
        p.resolve(JSON.parse(f.get("result") ?? "null"));
      } catch (err) {
        p.reject(err as Error);
      }
    } else {
      p.reject(
        new AppError("unavailable", `Job ${jobId} failed: ${f.get("error") ?? "unknown error"}`),
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`Request ${id} abandoned: the reply client closed`));
    }
    this.#pending.clear();
    this.#reader?.disconnect();
    await this.#loop;
  }
}

function replyTo(job: JobRef): string | undefined {
  const meta = job.meta as { replyTo?: unknown } | undefined;
  return typeof meta?.replyTo === "string" ? meta.replyTo : undefined;
}

async function sendReply(redis: Redis, stream: string, fields: string[]): Promise<void> {
  await redis.multi()
    .xadd(stream, "MAXLEN", "~", REPLY_STREAM_MAXLEN, "*", ...fields)
    .expire(stream, REPLY_STREAM_TTL_S)
    .exec();
}

/**
 * Adds replies to a handler: after it completes, its result goes to the job's `replyTo` stream;
 * when it fails for good, its error does.
 */
export function replying<S extends z.ZodType, R>(
  handler: TaskHandler<S, R>,
  redis: Redis,
): TaskHandler<S, R> {
  return {
    ...handler,
    async onCompleted(result, job) {
      const to = replyTo(job);
      if (to) {
        await sendReply(redis, to, ["job", job.id, "ok", "1", "result", JSON.stringify(result)]);
      }
      await handler.onCompleted?.(result, job);
    },
    async onDead(payload, job, error) {
      const to = replyTo(job);
      if (to) await sendReply(redis, to, ["job", job.id, "ok", "0", "error", error.message]);
      await handler.onDead?.(payload, job, error);
    },
  };
}
