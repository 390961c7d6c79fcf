/**
 * A worker's job metrics, from its queue workers' events (the queue's internals stay untouched):
 * attempts, durations by task and outcome, jobs in flight, retries, postponements, lease losses,
 * reclaims and dead letters. Counters are this process's since it started; Prometheus sums them
 * over workers.
 */
import { counter, gauge, histogram, type JobRef } from "@semantik/shared";
import type { Registry } from "prom-client";
import type { WorkerRuntime } from "./worker_runtime.ts";

/** How a job attempt ended, as `semantik_job_duration_seconds` labels it. */
export type JobOutcome = "completed" | "failed" | "postponed" | "aborted" | "lease_lost";

/** Adds the job metrics of `worker` to `registry`; returns a function that stops listening. */
export function registerWorkerMetrics(registry: Registry, worker: WorkerRuntime): () => void {
  const labelNames = ["queue", "task"] as const;
  const attempts = counter(registry, {
    name: "semantik_job_attempts_total",
    help: "Job attempts started by this worker, by queue and task",
    labelNames,
  });
  const duration = histogram(registry, {
    name: "semantik_job_duration_seconds",
    help: "Time from an attempt's start to its outcome, by queue, task and outcome",
    labelNames: [...labelNames, "outcome"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  });
  const retries = counter(registry, {
    name: "semantik_job_retries_total",
    help: "Failed attempts that will run again after a backoff, by queue and task",
    labelNames,
  });
  const postponements = counter(registry, {
    name: "semantik_job_postponements_total",
    help: "Attempts postponed without spending an attempt (RetryLaterError), by queue and task",
    labelNames,
  });
  const leaseLosses = counter(registry, {
    name: "semantik_job_lease_losses_total",
    help: "Running jobs whose lease this worker lost (another worker took them over)",
    labelNames,
  });
  const reclaims = counter(registry, {
    name: "semantik_job_reclaims_total",
    help: "Jobs this worker took over after their lease ran out",
    labelNames,
  });
  const deadLetters = counter(registry, {
    name: "semantik_job_dead_letters_total",
    help: "Jobs this worker moved to the dead letters, by queue and task",
    labelNames,
  });
  gauge(registry, {
    name: "semantik_jobs_in_flight",
    help: "Jobs running in this worker now, by queue",
    labelNames: ["queue"] as const,
    collect() {
      for (const [queue, w] of worker.workers) this.set({ queue }, w.runningCount);
    },
  });

  const labels = (job: JobRef) => ({ queue: job.queue, task: job.name });
  // Attempt starts by delivery (an entry id is one delivery of one job).
  const started = new Map<string, number>();
  const finish = (job: JobRef, outcome: JobOutcome) => {
    const key = `${job.queue}\0${job.entryId}`;
    const t0 = started.get(key);
    if (t0 === undefined) return;
    started.delete(key);
    duration.observe({ ...labels(job), outcome }, (performance.now() - t0) / 1000);
  };
  const offs = [
    worker.on("started", ({ job }) => {
      attempts.inc(labels(job));
      started.set(`${job.queue}\0${job.entryId}`, performance.now());
    }),
    worker.on("completed", ({ job }) => finish(job, "completed")),
    worker.on("failed", ({ job, willRetry }) => {
      if (willRetry) retries.inc(labels(job));
      finish(job, "failed");
    }),
    worker.on("postponed", ({ job }) => {
      postponements.inc(labels(job));
      finish(job, "postponed");
    }),
    worker.on("aborted", ({ job }) => finish(job, "aborted")),
    worker.on("leaseLost", ({ job }) => {
      leaseLosses.inc(labels(job));
      finish(job, "lease_lost");
    }),
    worker.on("reclaimed", ({ job }) => reclaims.inc(labels(job))),
    worker.on("dead", ({ job }) => deadLetters.inc(labels(job))),
  ];
  return () => offs.forEach((off) => off());
}
