/**
 * The scheduler's metrics: firings by job and result (`enqueued`: this replica enqueued the tick's
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
    help: "Cron firings by job and result: enqueued, skipped (already enqueued), failed",
    labelNames: ["job", "result"] as const,
  });
  const last = gauge(registry, {
    name: "semantik_scheduler_last_fire_timestamp_seconds",
    help: "When each job last fired and enqueued or found its tick (Unix time)",
    labelNames: ["job"] as const,
  });
  return {
    fired(job, created) {
      ticks.inc({ job, result: created ? "enqueued" : "skipped" });
      last.set({ job }, Date.now() / 1000);
    },
    failed(job) {
      ticks.inc({ job, result: "failed" });
    },
  };
}
