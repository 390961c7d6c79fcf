/**
 * The complete part of a queue worker: what happens once a handler settled. A success is acked
 * by the ack part (`ack_batcher.ts`) and reported here ({@link JobFinisher.acked}); a failure is
 * retried through the delayed set with backoff and jitter, postponed (RetryLaterError, no attempt
 * spent, at most `maxPostpones` times) or moved to the dead letters after the last attempt; a job
 * stopped by shutdown is handed back at the same attempt. Each runs one script, tried again on a
 * failing Redis while the job's lease is kept, and the handler's hooks run after it.
 */
import { RetryLaterError } from "../errors.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { backoffDelay, resolveBackoff } from "../async/backoff.ts";
import { sleep } from "../async/sleep.ts";
import type { QueueCounters } from "./counters.ts";
import type { DelayedMover } from "./delayed_mover.ts";
import type { Delivery } from "./delivery.ts";
import type { TypedEmitter } from "./emitter.ts";
import type { QueueKeys } from "./keys.ts";
import type { QueueWorkerEvents } from "./queue_worker.ts";
import type { QueueScripts } from "./scripts.ts";
import type { JobRef, TaskHandler } from "./task_handler.ts";

/** A failed finishing script is tried again after 200 ms, doubling (four tries in all). */
const FINISH_RETRY_BACKOFF = resolveBackoff({ delayMs: 200, jitter: 0 });

/** Why a running job's signal fired: a lost lease, the worker closing, or {@link QueueWorker.abortJob}. */
export type AbortKind = "lease" | "shutdown" | "external";

/** A job this worker holds: its handler runs, or it finished and awaits its outcome's script. */
export interface RunningJob {
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

/** A finished job waiting for its ack. */
export interface AckItem {
  active: RunningJob;
  result: unknown;
  aborted: boolean;
}

/** Options of {@link JobFinisher}. */
export interface JobFinisherOptions {
  scripts: QueueScripts;
  keys: QueueKeys;
  group: string;
  consumer: string;
  mover: DelayedMover;
  counters: QueueCounters;
  events: TypedEmitter<QueueWorkerEvents>;
  log: Logger;
  handlers: ReadonlyMap<string, TaskHandler>;
  maxPostpones: number;
  maxPostponeMs: number;
  /** Source of randomness for backoff jitter. */
  random: () => number;
  /** Stops holding a job's entry (unless a fresh attempt holds it now). */
  forget(job: RunningJob): void;
  /** Whether the worker is closing (then a failing script is not tried again). */
  closing(): boolean;
  report(err: unknown, during: string): void;
}

/** Records the outcome of settled handlers; {@link JobFinisher.pending} is what close waits for. */
export class JobFinisher {
  readonly #o: JobFinisherOptions;
  readonly #finishing = new Set<Promise<void>>();

  constructor(options: JobFinisherOptions) {
    this.#o = options;
  }

  /** Finishing scripts and hooks under way. */
  get pending(): Promise<void>[] {
    return [...this.#finishing];
  }

  /** Runs a finishing script for `a`, keeping its lease until the script answered. */
  async finish(a: RunningJob, fn: () => Promise<void>, during: string): Promise<void> {
    const p = (async () => {
      for (let tries = 0;; tries++) {
        try {
          await fn();
          return;
        } catch (err) {
          this.#o.report(err, during);
          // Give up eventually: the entry stays pending and is reclaimed after its lease.
          if (tries >= 4 || this.#o.closing()) return;
          await sleep(backoffDelay(tries + 1, FINISH_RETRY_BACKOFF));
        }
      }
    })();
    this.#finishing.add(p);
    try {
      await p;
    } finally {
      this.#finishing.delete(p);
      this.#o.forget(a);
    }
  }

  /**
   * Moves a running job to the delayed set, due in `delayMs`: a retry (spends an attempt) or a
   * postponement (does not). Returns when it becomes due (0 when the lease was lost meanwhile).
   */
  async #reschedule(
    a: RunningJob,
    delayMs: number,
    error: Error,
    kind: "retry" | "postpone",
  ): Promise<number> {
    const d = a.delivery;
    const k = this.#o.keys;
    let due = 0;
    await this.finish(a, async () => {
      due = await this.#o.scripts.retryJob([k.stream, k.delayed, k.job(d.jobId), k.stats], [
        this.#o.group,
        this.#o.consumer,
        d.entryId,
        d.jobId,
        delayMs,
        errorMessage(error),
        kind,
      ]);
    }, kind === "retry" ? "scheduling a retry" : "postponing a job");
    return due;
  }

  async fail(
    a: RunningJob,
    handler: TaskHandler | undefined,
    payload: unknown,
    error: Error,
    final: boolean,
  ): Promise<void> {
    const d = a.delivery;
    const k = this.#o.keys;
    if (!final && error instanceof RetryLaterError && d.postpones < this.#o.maxPostpones) {
      const delayMs = Math.min(
        Math.max(0, Math.round(error.delayMs) || 0),
        this.#o.maxPostponeMs,
      );
      const r = await this.#reschedule(a, delayMs, error, "postpone");
      if (r > 0) {
        this.#o.mover.wake(delayMs);
        this.#o.counters.inc("postponed");
        this.#o.events.emit("postponed", { job: a.ref, error, delayMs, dueAt: r });
      }
      return;
    }
    this.#o.counters.inc("failed");
    if (!final && d.attempt < d.maxAttempts) {
      const delayMs = backoffDelay(d.attempt, d.backoff, { random: this.#o.random });
      const r = await this.#reschedule(a, delayMs, error, "retry");
      if (r > 0) {
        this.#o.mover.wake(delayMs);
        this.#o.counters.inc("retried");
        this.#o.events.emit("failed", { job: a.ref, error, willRetry: true, delayMs, dueAt: r });
        if (handler?.onFailed) {
          this.hook(
            `onFailed of task ${d.name}`,
            () => handler.onFailed!(error, a.ref, { delayMs }),
          );
        }
        this.#o.log.warn("job failed; will retry", {
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
    await this.finish(a, async () => {
      const keys = [k.stream, k.dead, k.job(d.jobId), k.stats];
      if (d.dedupKey) keys.push(k.dedup(d.dedupKey));
      r = await this.#o.scripts.moveToDead(keys, [
        this.#o.group,
        this.#o.consumer,
        d.entryId,
        d.jobId,
        errorMessage(error),
        d.attempt,
      ]);
    }, "moving a job to the dead letters");
    if (typeof r === "string") {
      this.#o.events.emit("failed", {
        job: a.ref,
        error,
        willRetry: false,
        delayMs: undefined,
        dueAt: undefined,
      });
      if (handler?.onFailed) {
        this.hook(`onFailed of task ${d.name}`, () => handler.onFailed!(error, a.ref, undefined));
      }
      this.afterDead(d, a.ref, error, handler, payload);
    }
  }

  afterDead(
    d: Delivery,
    ref: JobRef,
    error: Error,
    handler = this.#o.handlers.get(d.name),
    payload?: unknown,
  ): void {
    this.#o.counters.inc("dead");
    this.#o.events.emit("dead", { job: ref, error });
    this.#o.log.error("job is dead", {
      job: d.jobId,
      task: d.name,
      attempt: d.attempt,
      err: error,
    });
    if (!handler?.onDead) return;
    if (payload === undefined) {
      const parsed = parsePayload(handler, d.data);
      payload = parsed.ok ? parsed.value : undefined;
    }
    this.hook(`onDead of task ${d.name}`, () => handler.onDead!(payload, ref, error));
  }

  /** Runs a handler's hook; close waits for it, and what it throws is only reported. */
  hook(what: string, fn: () => Promise<void> | void): void {
    const p = (async () => {
      try {
        await fn();
      } catch (err) {
        this.#o.report(err, `running ${what}`);
      }
    })();
    this.#finishing.add(p);
    p.finally(() => this.#finishing.delete(p));
  }

  /** What happens once a finished job's ack ran: events, counters and the completion hook. */
  acked({ active, result, aborted }: AckItem, acked: boolean): void {
    this.#o.forget(active);
    if (!acked) return;
    if (aborted) {
      this.#o.counters.inc("aborted");
      this.#o.events.emit("aborted", { job: active.ref, reason: active.abortReason ?? "" });
      return;
    }
    this.#o.counters.inc("completed");
    this.#o.events.emit("completed", {
      job: active.ref,
      result,
      durationMs: performance.now() - active.startedAt,
    });
    const h = this.#o.handlers.get(active.delivery.name);
    if (h?.onCompleted) {
      this.hook(`onCompleted of task ${h.task.name}`, () => h.onCompleted!(result, active.ref));
    }
  }

  async release(ds: Delivery[]): Promise<void> {
    const keys = [this.#o.keys.stream, ...ds.map((d) => this.#o.keys.job(d.jobId))];
    const args: (string | number)[] = [this.#o.group, this.#o.consumer];
    for (const d of ds) args.push(d.entryId, d.jobId, d.attempt);
    await this.#o.scripts.releaseJobs(keys, args);
  }
}

export function parsePayload(
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
