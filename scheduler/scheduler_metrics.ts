/**
 * The scheduler's metrics: firings by cron job (label `cron`) and result (`enqueued`: this replica enqueued the tick's
 * job; `skipped`: the tick was already enqueued, by another replica or an earlier firing;
 * `failed`: the enqueue failed and Deno.cron retries it), and when each job last fired.
 */
import { counter, gauge } from "@semantik/shared";
import type { Registry } from "prom-client";

/** What the scheduler reports to its metrics. */
export interface SchedulerMetrics {
  fired(job: string, created: boolean): void;
  failed(job: string): void;
}

export function registerSchedulerMetrics(registry: Registry): SchedulerMetrics {
  const ticks = counter(registry, {
    name: "semantik_scheduler_ticks_total",
    help: "Cron firings by cron job and result: enqueued, skipped (already enqueued), failed",
    // `cron`, not `job`: Prometheus's own target label is `job`.
    labelNames: ["cron", "result"] as const,
  });
  const last = gauge(registry, {
    name: "semantik_scheduler_last_fire_timestamp_seconds",
    help: "When each cron job last fired and enqueued or found its tick (Unix time)",
    labelNames: ["cron"] as const,
  });
  return {
    fired(job, created) {
      ticks.inc({ cron: job, result: created ? "enqueued" : "skipped" });
      last.set({ cron: job }, Date.now() / 1000);
    },
    failed(job) {
      ticks.inc({ cron: job, result: "failed" });
    },
  };
}
