/** @semantik/scheduler: `Deno.cron` jobs that enqueue the periodic tasks, once per tick. */
export {
  type CronRegistrar,
  type Scheduler,
  type SchedulerFire,
  type SchedulerOptions,
  type SchedulerRuntime,
  startScheduler,
} from "./scheduler.ts";
export { type ScheduledJob, scheduledJobs, type TickPayload } from "./scheduled_jobs.ts";
export { type CronTick, cronTick, type CronTickOptions, parseSchedule } from "./cron_tick.ts";
export { registerSchedulerMetrics, type SchedulerMetrics } from "./scheduler_metrics.ts";
