/**
 * The scheduler role: one `Deno.cron` job per schedule, whose handler only enqueues the job's
 * task. The enqueue carries the dedup key `<task>:<tick>`, the tick computed from the schedule
 * and the clock ({@link cronTick}), so any number of replicas firing for the same tick enqueue it
 * once. The key outlives the job by the schedule's interval: a replica firing late, after the
 * job already ran, still finds it.
 */
import type { Config, Logger, QueueClient } from "@semantik/shared";
import type { Registry } from "prom-client";
import { cronTick, parseSchedule } from "./cron_tick.ts";
import { registerSchedulerMetrics } from "./scheduler_metrics.ts";
import { type ScheduledJob, scheduledJobs } from "./scheduled_jobs.ts";

/** Registers a cron job; `Deno.cron`'s signature with options. */
export type CronRegistrar = (
  name: string,
  schedule: string,
  options: { backoffSchedule?: number[]; signal?: AbortSignal },
  handler: () => Promise<void>,
) => Promise<void>;

function denoCron(): CronRegistrar {
  const cron = (Deno as unknown as { cron?: CronRegistrar }).cron;
  if (typeof cron !== "function") {
    throw new TypeError(
      "Cannot start scheduler: Deno.cron is not available; run with --unstable-cron " +
        '(the project\'s deno.json sets "unstable": ["cron"])',
    );
  }
  return cron;
}

/** What the scheduler needs from the process: settings, the queues and a logger. */
export interface SchedulerRuntime {
  readonly config: Pick<
    Config,
    "scheduleSyncCheck" | "scheduleCleanup" | "scheduleReconcile" | "scheduleWebhookSweep"
  >;
  readonly queues: QueueClient;
  readonly log: Logger;
  /** When given, the scheduler counts its firings there (`semantik_scheduler_*`). */
  readonly metrics?: Registry;
  /** When given, the scheduler stops when the runtime closes. */
  onClose?(fn: () => Promise<void> | void): void;
}

/** What one firing did. */
export interface SchedulerFire {
  /** The scheduled job's name. */
  job: string;
  task: string;
  /** The tick, ISO-8601 UTC. */
  tick: string;
  dedupKey: string;
  /** False when another replica (or an earlier firing) already enqueued this tick. */
  created: boolean;
  jobId: string;
}

/** Options of {@link startScheduler}. */
export interface SchedulerOptions {
  /** The jobs to schedule. @default {scheduledJobs(rt.config)} */
  jobs?: readonly ScheduledJob[];
  /** The clock ticks are computed from, in ms since the epoch. @default {Date.now} */
  clock?: () => number;
  /** Registers the cron jobs. @default {Deno.cron} */
  cron?: CronRegistrar;
  /**
   * Prefix of the cron names (`<prefix>-<job>`), which must be unique within a process: letters,
   * digits, `_` and `-`.
   * @default {"semantik"}
   */
  namePrefix?: string;
  /** A firing this early still counts for the coming tick, in ms. @default {2000} */
  earlyToleranceMs?: number;
  /**
   * Retries of a firing whose enqueue failed (Redis down), in ms (Deno.cron's `backoffSchedule`:
   * at most 5, each at most 1 h). A retry computes the same tick while it is within the
   * schedule's interval.
   * @default {[1000, 5000, 15000]}
   */
  backoffSchedule?: number[];
  /** Least time a dedup key is kept after its tick's enqueue, in ms. @default {60000} */
  minDedupTtlMs?: number;
  /** Most time a dedup key is kept, in ms. @default {7 days} */
  maxDedupTtlMs?: number;
  /** Stops the scheduler when aborted. @default {undefined} */
  signal?: AbortSignal;
  /** Called after every successful firing (tests, metrics). Must not throw. @default {undefined} */
  onFired?: (fire: SchedulerFire) => void;
}

/** A running scheduler. */
export interface Scheduler {
  readonly jobs: readonly ScheduledJob[];
  /** Runs job `name`'s firing now, as its cron handler does (throws when the enqueue fails). */
  fire(name: string): Promise<SchedulerFire>;
  /** Unregisters the cron jobs and waits for running firings. Idempotent. */
  close(): Promise<void>;
}

/**
 * Registers the cron jobs and returns the running scheduler. Throws a TypeError naming the
 * setting when a schedule is not one `Deno.cron` accepts.
 */
export function startScheduler(rt: SchedulerRuntime, options: SchedulerOptions = {}): Scheduler {
  const {
    jobs = scheduledJobs(rt.config),
    clock = Date.now,
    cron = denoCron(),
    namePrefix = "semantik",
    earlyToleranceMs = 2000,
    backoffSchedule = [1000, 5000, 15000],
    minDedupTtlMs = 60_000,
    maxDedupTtlMs = 7 * 24 * 3600_000,
    signal,
    onFired,
  } = options;
  if (!(minDedupTtlMs > 0 && maxDedupTtlMs >= minDedupTtlMs)) {
    throw new RangeError(
      `Cannot start scheduler: need 0 < minDedupTtlMs <= maxDedupTtlMs, got ${minDedupTtlMs} and ${maxDedupTtlMs}`,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(namePrefix)) {
    throw new TypeError(
      `Cannot start scheduler: namePrefix may hold letters, digits, _ and - (at most 64), got ${
        JSON.stringify(namePrefix)
      }`,
    );
  }
  const names = new Set<string>();
  for (const job of jobs) {
    if (names.has(job.name)) {
      throw new TypeError(`Cannot start scheduler: two jobs are named ${job.name}`);
    }
    names.add(job.name);
    try {
      parseSchedule(job.schedule);
    } catch (err) {
      throw new TypeError(
        `Cannot start scheduler: ${job.setting} is not a valid schedule: ${(err as Error).message}`,
      );
    }
  }
  const log = rt.log.child({}, "scheduler");
  const metrics = rt.metrics ? registerSchedulerMetrics(rt.metrics) : undefined;
  const byName = new Map(jobs.map((j) => [j.name, j]));

  const fireJob = async (job: ScheduledJob): Promise<SchedulerFire> => {
    const { tick, intervalMs } = cronTick(job.schedule, clock(), { earlyToleranceMs });
    const iso = tick.toISOString();
    const dedupKey = `${job.task.name}:${iso}`;
    // Long enough that a replica firing late for this tick (up to the next one) still finds it.
    const dedupTtlMs = Math.min(maxDedupTtlMs, Math.max(minDedupTtlMs, intervalMs + 60_000));
    const res = await rt.queues.enqueue(job.task, { tick: iso }, { dedupKey, dedupTtlMs });
    const fire: SchedulerFire = {
      job: job.name,
      task: job.task.name,
      tick: iso,
      dedupKey,
      created: res.created,
      jobId: res.jobId,
    };
    if (res.created) log.info("enqueued", { task: job.task.name, tick: iso, job_id: res.jobId });
    else log.debug("tick already enqueued", { task: job.task.name, tick: iso });
    metrics?.fired(job.name, res.created);
    onFired?.(fire);
    return fire;
  };

  const controller = new AbortController();
  const onAbort = () => void close();
  signal?.addEventListener("abort", onAbort, { once: true });
  const running: Promise<void>[] = [];
  try {
    for (const job of jobs) {
      const handler = async () => {
        try {
          await fireJob(job);
        } catch (err) {
          // Thrown on so Deno.cron retries it (backoffSchedule); the retry computes the same tick.
          log.warn("cannot enqueue scheduled job", { task: job.task.name, err });
          metrics?.failed(job.name);
          throw err;
        }
      };
      let registration: Promise<void>;
      try {
        registration = cron(
          `${namePrefix}-${job.name}`,
          job.schedule,
          { backoffSchedule, signal: controller.signal },
          handler,
        );
      } catch (err) {
        throw new TypeError(
          `Cannot start scheduler: Deno.cron refused job ${job.name} (${job.setting}=${
            JSON.stringify(job.schedule)
          }): ${(err as Error).message}`,
        );
      }
      running.push(registration.catch((err) => log.error("cron job stopped", { err })));
    }
  } catch (err) {
    controller.abort();
    signal?.removeEventListener("abort", onAbort);
    throw err;
  }
  log.info("scheduler started", {
    jobs: jobs.map((j) => `${j.task.name} (${j.schedule})`).join(", "),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      signal?.removeEventListener("abort", onAbort);
      controller.abort();
      await Promise.all(running);
      log.info("scheduler stopped");
    })();
    return closing;
  };
  rt.onClose?.(close);
  if (signal?.aborted) void close();

  return {
    jobs,
    fire(name) {
      const job = byName.get(name);
      if (!job) return Promise.reject(new TypeError(`Cannot fire job: no job is named ${name}`));
      return fireJob(job);
    },
    close,
  };
}
