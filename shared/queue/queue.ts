/**
 * One queue seen from a producer or an admin: enqueue jobs, read where a job is, remove it, list
 * and requeue dead letters, and read the queue's size. Workers consume with {@link QueueWorker}.
 */
import type { ReplicaWait } from "../redis/replica_wait.ts";
import type { Redis } from "ioredis";
import type { z } from "zod";
import { KeySpace } from "../redis/redis.ts";
import { type BackoffOptions, resolveBackoff } from "../async/backoff.ts";
import { QueueCounters } from "./counters.ts";
import { TypedEmitter } from "./emitter.ts";
import type { DeadLetter, JobInfo, JobState, JsonValue, QueueDepth, QueueTotals } from "./job.ts";
import { isValidJobId, QueueKeys } from "./keys.ts";
import { QueueScripts } from "./scripts.ts";
import type { TaskDefinition } from "./task.ts";
import { fieldMap, parseOptionalJson } from "./_util.ts";
import { ensureGroup, isNoGroup } from "./group_reader.ts";

/** The consumer group every worker of a queue reads through. */
export const DEFAULT_GROUP = "workers";

/** Options of {@link Queue}. */
export interface QueueOptions {
  /** Prefix of every key (`REDIS_PREFIX`). @default {"semantik:"} */
  prefix?: string;
  /** Consumer group of the queue's workers. @default {"workers"} */
  group?: string;
  /** `REDIS_WAIT_REPLICAS`: waits for replicas after each enqueue. @default {undefined}: no wait */
  replicaWait?: ReplicaWait;
}

/** Options of {@link Queue.enqueue}. */
export interface EnqueueOptions {
  /**
   * The job id (an operation's job uses the operation id). While a job with this id exists
   * (waiting, delayed, running or dead), enqueueing it again does nothing.
   * @default {a random UUID}
   */
  jobId?: string;
  /**
   * While a live job (waiting, delayed or running) holds this key, enqueueing another job with
   * the same key returns that job instead. The key is freed when its job completes, dies or is
   * removed.
   * @default {undefined}
   */
  dedupKey?: string;
  /**
   * Keep the dedup key at least this long after the enqueue even when the job finished sooner,
   * so a scheduler replica that fires the same tick a little late is still deduplicated.
   * @default {0}
   */
  dedupTtlMs?: number;
  /** Run no earlier than this many ms from now (Redis clock). @default {0} */
  delayMs?: number;
  /** Attempts before the job goes to the dead letters. @default {the task's, else 3} */
  maxAttempts?: number;
  /** Delay between attempts. @default {the task's, else exponential from 1000 ms} */
  backoff?: BackoffOptions;
  /** Opaque JSON carried untouched to the handler and to events (e.g. a `replyTo`). @default {undefined} */
  meta?: JsonValue;
}

/** What {@link Queue.enqueue} did. */
export interface EnqueueResult {
  /** The job's id: the new job's, or that of the existing job that made this one a duplicate. */
  jobId: string;
  queue: string;
  /** False when an existing job with the same id or dedup key made this enqueue a no-op. */
  created: boolean;
  /** Why it was a duplicate. */
  duplicateOf: "id" | "dedup" | undefined;
}

/** What {@link Queue.removeJob} did. */
export interface RemoveResult {
  /** Whether a job was removed. */
  removed: boolean;
  /** The job's state before (null when there was no such job). */
  state: JobState | null;
}

/** Events of a {@link Queue}. */
export interface QueueEvents {
  enqueued: { queue: string; jobId: string; name: string; delayed: boolean };
}

const MAX_DELAY_MS = 365 * 24 * 3600_000;
const MAX_ATTEMPTS = 1000;

/** How far past a letter's `failedAt` its dead-stream entry id may lie, in ms (see purgeDeadLetters). */
const DEAD_ID_SLACK_MS = 1000;

export class Queue {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly group: string;
  readonly redis: Redis;
  readonly events: TypedEmitter<QueueEvents> = new TypedEmitter();
  readonly counters: QueueCounters = new QueueCounters();
  readonly #scripts: QueueScripts;

  /**
   * @param redis a command connection (not closed by the queue).
   * @param name the queue's name (`default`, `embed`).
   */
  readonly #replicaWait: ReplicaWait | undefined;
  constructor(redis: Redis, name: string, options: QueueOptions = {}) {
    const { prefix = "semantik:", group = DEFAULT_GROUP, replicaWait } = options;
    this.#replicaWait = replicaWait;
    this.redis = redis;
    this.name = name;
    this.group = group;
    this.keys = new QueueKeys(new KeySpace(prefix), name);
    this.#scripts = new QueueScripts(redis);
  }

  /**
   * Enqueues a job of `task` after validating `payload` with the task's schema. Throws a
   * TypeError for a payload that does not fit, or for bad options.
   */
  async enqueue<S extends z.ZodType>(
    task: TaskDefinition<S>,
    payload: z.input<S>,
    options: EnqueueOptions = {},
  ): Promise<EnqueueResult> {
    if (task.queue !== this.name) {
      throw new TypeError(
        `Cannot enqueue task ${task.name}: it runs on queue ${task.queue}, not ${this.name}`,
      );
    }
    const checked = task.schema.safeParse(payload);
    if (!checked.success) {
      const issues = checked.error.issues.map((i) =>
        `${i.path.join(".") || "payload"}: ${i.message}`
      );
      throw new TypeError(
        `Cannot enqueue task ${task.name}: invalid payload: ${issues.join("; ")}`,
      );
    }
    return await this.add(task.name, payload, {
      maxAttempts: task.maxAttempts,
      ...options,
      backoff: { ...task.backoff, ...options.backoff },
    });
  }

  /**
   * Enqueues a job of task `name` without schema validation (the worker still validates). For
   * callers that hold no {@link TaskDefinition}; prefer {@link enqueue}.
   */
  async add(name: string, payload: unknown, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const {
      jobId = crypto.randomUUID(),
      dedupKey,
      dedupTtlMs = 0,
      delayMs = 0,
      maxAttempts = 3,
      backoff = {},
      meta,
    } = options;
    if (!isValidJobId(jobId)) {
      throw new TypeError(
        `Cannot enqueue task ${name}: job id may hold letters, digits and _ . : @ - (at most 200), got ${
          JSON.stringify(jobId)
        }`,
      );
    }
    if (dedupKey !== undefined && (dedupKey.length === 0 || dedupKey.length > 512)) {
      throw new TypeError(`Cannot enqueue task ${name}: dedupKey must hold 1 to 512 characters`);
    }
    const what = `Cannot enqueue task ${name}`;
    checkInt(what, "delayMs", delayMs, 0, MAX_DELAY_MS);
    checkInt(what, "dedupTtlMs", dedupTtlMs, 0, MAX_DELAY_MS);
    checkInt(what, "maxAttempts", maxAttempts, 1, MAX_ATTEMPTS);
    const resolvedBackoff = resolveBackoff(backoff);
    const data = JSON.stringify(payload ?? null);
    const metaText = meta === undefined ? "" : JSON.stringify(meta);

    const k = this.keys;
    const keys = [k.stream, k.delayed, k.job(jobId), k.stats];
    if (dedupKey !== undefined) keys.push(k.dedup(dedupKey));
    const [created, id, detail] = await this.#scripts.enqueue(keys, [
      jobId,
      name,
      data,
      maxAttempts,
      JSON.stringify(resolvedBackoff),
      delayMs,
      metaText,
      dedupKey ?? "",
      dedupTtlMs,
    ]);
    if (created === 1) {
      // A job acknowledged to the caller survives a failover of its master (as far as WAIT can).
      await this.#replicaWait?.after(k.stream, `enqueue ${name}`);
      this.counters.inc("enqueued");
      this.events.emit("enqueued", {
        queue: this.name,
        jobId: id,
        name,
        delayed: detail === "delayed",
      });
      return { jobId: id, queue: this.name, created: true, duplicateOf: undefined };
    }
    return {
      jobId: id,
      queue: this.name,
      created: false,
      duplicateOf: detail === "dedup" ? "dedup" : "id",
    };
  }

  /** Creates the consumer group (and the stream) unless they exist. */
  async ensureGroup(): Promise<void> {
    // From id 0: jobs added before the group existed (after a flush) are delivered too.
    await ensureGroup(this.redis, { stream: this.keys.stream, group: this.group, from: "0" });
  }

  /** The job with id `jobId`, or null when there is none (never enqueued, completed or removed). */
  async getJob(jobId: string): Promise<JobInfo | null> {
    if (!isValidJobId(jobId)) return null;
    const r = await this.#scripts.jobState([this.keys.job(jobId), this.keys.stream], [this.group]);
    if (!r) return null;
    const [
      state,
      name,
      attempts,
      max,
      error,
      consumer,
      idle,
      due,
      enqueued,
      meta,
      failedAt,
      postpones,
    ] = r;
    return {
      id: jobId,
      queue: this.name,
      name: name ?? "",
      state: state as JobState,
      attempts: Number(attempts),
      maxAttempts: Number(max),
      postpones: Number(postpones),
      error: error || undefined,
      consumer: consumer || undefined,
      idleMs: idle ? Number(idle) : undefined,
      dueAt: due ? Number(due) : undefined,
      enqueuedAt: Number(enqueued),
      failedAt: failedAt ? Number(failedAt) : undefined,
      meta: parseOptionalJson(meta) as JsonValue | undefined,
    };
  }

  /** Where job `jobId` is, or null when there is no such job. */
  async getJobState(jobId: string): Promise<JobState | null> {
    return (await this.getJob(jobId))?.state ?? null;
  }

  /**
   * Removes job `jobId` so that it never starts (again). A running job is removed only with
   * `force`: its worker aborts the handler at its next lease renewal.
   */
  async removeJob(jobId: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    const { force = false } = options;
    if (!isValidJobId(jobId)) return { removed: false, state: null };
    const k = this.keys;
    // The dedup key must be passed in KEYS, so read it first; the script checks it is unchanged.
    for (let tries = 0; tries < 5; tries++) {
      const dedup = await this.redis.hget(k.job(jobId), "k");
      const keys = [k.stream, k.delayed, k.dead, k.job(jobId)];
      if (dedup) keys.push(k.dedup(dedup));
      const [code, state] = await this.#scripts.removeJob(keys, [
        this.group,
        jobId,
        force ? "1" : "0",
        dedup ?? "",
      ]);
      if (code === -1) continue;
      return { removed: code === 1, state: state ? state as JobState : null };
    }
    throw new Error(`Cannot remove job ${jobId}: its dedup key kept changing`);
  }

  /** Dead letters, newest first. */
  async listDeadLetters(options: { limit?: number } = {}): Promise<DeadLetter[]> {
    const { limit = 100 } = options;
    checkInt("Cannot list dead letters", "limit", limit, 1, 10_000);
    const entries = await this.redis.xrevrange(this.keys.dead, "+", "-", "COUNT", limit);
    return entries.map(([, fields]) => this.#deadLetter(fieldMap(fields)));
  }

  /**
   * Runs dead job `jobId` again with a fresh budget of attempts. False when it is not dead. A dead
   * job keeps its payload only when it is small (at most 16 KiB): for a larger one, pass
   * `payload` to rebuild it (an operation's job from its operation id), or it throws.
   */
  async requeueDeadLetter(jobId: string, options: { payload?: unknown } = {}): Promise<boolean> {
    if (!isValidJobId(jobId)) return false;
    const k = this.keys;
    const given = options.payload === undefined ? "" : JSON.stringify(options.payload);
    const r = await this.#scripts.requeueDead([k.stream, k.dead, k.job(jobId)], [jobId, given]);
    if (Array.isArray(r)) {
      throw new Error(
        `Cannot requeue dead job ${jobId}: its payload (${r[1]} bytes) was too large to keep; ` +
          "pass the payload to run it with",
      );
    }
    return typeof r === "string";
  }

  /**
   * Removes dead letters that died before `before` (ms since the epoch): by their `failedAt`, the
   * time `move_to_dead` recorded. A letter's entry id is the time of its `XADD` in the same
   * script, which may be a millisecond later (the clock ticks between the two), so entries are
   * read by id up to a second past `before` and chosen by `failedAt`. Returns how many.
   */
  async purgeDeadLetters(before: number, options: { limit?: number } = {}): Promise<number> {
    const { limit = 1000 } = options;
    let removed = 0;
    let from = "-";
    const to = `(${Math.floor(before) + DEAD_ID_SLACK_MS}-0`;
    while (removed < limit) {
      const batch = await this.redis.xrange(this.keys.dead, from, to, "COUNT", 100);
      if (batch.length === 0) break;
      for (const [entryId, fields] of batch) {
        from = `(${entryId}`;
        const f = fieldMap(fields);
        // A letter without the field (older code) counts by its id's time.
        const failedAt = Number(f.get("fa") ?? entryId.split("-")[0]);
        if (!(failedAt < before)) continue;
        const id = f.get("id");
        const r = id ? await this.removeJob(id) : { removed: false };
        // A letter whose job is gone (or was requeued and died again) is only a record.
        if (!r.removed) await this.redis.xdel(this.keys.dead, entryId);
        if (++removed >= limit) break;
      }
    }
    return removed;
  }

  /**
   * Deletes the group's consumers that hold no pending entry, are not in `keep` (e.g. the
   * consumers of live workers) and were idle for at least `minIdleMs`. A consumer with pending
   * entries is never deleted: that would drop its jobs from the pending list. For maintenance.
   */
  async removeIdleConsumers(
    keep: ReadonlySet<string>,
    options: { minIdleMs?: number } = {},
  ): Promise<string[]> {
    const { minIdleMs = 3_600_000 } = options;
    let consumers: unknown[];
    try {
      consumers = await this.redis.call("XINFO", [
        "CONSUMERS",
        this.keys.stream,
        this.group,
      ]) as unknown[];
    } catch (err) {
      if (isNoGroup(err) || (err instanceof Error && /no such key/i.test(err.message))) return [];
      throw err;
    }
    const removed: string[] = [];
    for (const c of consumers) {
      const info = fieldMap(c);
      const name = String(info.get("name"));
      const pending = Number(info.get("pending"));
      const idle = Number(info.get("idle"));
      if (keep.has(name) || pending > 0 || idle < minIdleMs) continue;
      // DELCONSUMER drops the consumer's pending entries: only when it has none, checked again.
      const left = await this.redis.call("XPENDING", [
        this.keys.stream,
        this.group,
        "-",
        "+",
        1,
        name,
      ]) as unknown[];
      if (left.length > 0) continue;
      await this.redis.call("XGROUP", ["DELCONSUMER", this.keys.stream, this.group, name]);
      removed.push(name);
    }
    return removed;
  }

  /** How many jobs wait, run, are delayed and are dead. */
  async depth(): Promise<QueueDepth> {
    const k = this.keys;
    const [len, pending, delayed, dead] = await Promise.all([
      this.redis.xlen(k.stream),
      this.redis.call("XPENDING", [k.stream, this.group]).then(
        (r) => Number((r as unknown[])[0] ?? 0),
        (err) => {
          if (isNoGroup(err)) return 0;
          throw err;
        },
      ),
      this.redis.zcard(k.delayed),
      this.redis.xlen(k.dead),
    ]);
    return { waiting: Math.max(0, len - pending), active: pending, delayed, dead };
  }

  /** Totals kept in Redis by the queue's scripts, across every process. */
  async totals(): Promise<QueueTotals> {
    const h = await this.redis.hgetall(this.keys.stats);
    const n = (f: string) => Number(h[f] ?? 0);
    return {
      enqueued: n("enqueued"),
      completed: n("completed"),
      retried: n("retried"),
      postponed: n("postponed"),
      dead: n("dead"),
      reclaimed: n("reclaimed"),
    };
  }

  #deadLetter(f: Map<string, string>): DeadLetter {
    let meta: JsonValue | undefined;
    try {
      meta = parseOptionalJson(f.get("m")) as JsonValue | undefined;
    } catch {
      meta = undefined;
    }
    return {
      id: f.get("id") ?? "",
      queue: this.name,
      name: f.get("n") ?? "",
      attempts: Number(f.get("a") ?? 0),
      error: f.get("err") ?? "",
      failedAt: Number(f.get("fa") ?? 0),
      meta,
    };
  }
}

function checkInt(what: string, field: string, v: number, min: number, max: number) {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`${what}: ${field} must be an integer from ${min} to ${max}, got ${v}`);
  }
}
