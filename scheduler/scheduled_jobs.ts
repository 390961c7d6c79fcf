/**
 * The scheduler's jobs: which task each schedule enqueues. The scheduler only enqueues; a worker
 * runs the task (its entry in `worker/build_handlers.ts`). A new periodic task is one entry here plus its
 * `SCHEDULE_*` setting (docs/EXTENDING.md).
 */
import {
  checkContinuousSyncTask,
  cleanupOperationsTask,
  type Config,
  reconcileTask,
  sweepWebhookDeliveriesTask,
  type TaskDefinition,
} from "@semantik/shared";
import type { z } from "zod";

/** The payload of every scheduler-made job. */
export type TickPayload = { tick: string };

/** One periodic job. */
export interface ScheduledJob {
  /** The `Deno.cron` name (unique within a process, after the scheduler's prefix). */
  readonly name: string;
  /** The task it enqueues (payload `{tick}`). */
  readonly task: TaskDefinition<z.ZodType<TickPayload, TickPayload>>;
  /** 5-field cron expression, UTC. */
  readonly schedule: string;
  /** The setting the schedule comes from, for error messages. */
  readonly setting: string;
}

/** The system's periodic jobs with the schedules of `config`. */
export function scheduledJobs(
  config: Pick<
    Config,
    "scheduleSyncCheck" | "scheduleCleanup" | "scheduleReconcile" | "scheduleWebhookSweep"
  >,
): ScheduledJob[] {
  return [
    {
      name: "check_continuous_sync",
      task: checkContinuousSyncTask,
      schedule: config.scheduleSyncCheck,
      setting: "SCHEDULE_SYNC_CHECK",
    },
    {
      name: "cleanup_operations",
      task: cleanupOperationsTask,
      schedule: config.scheduleCleanup,
      setting: "SCHEDULE_CLEANUP",
    },
    {
      name: "reconcile",
      task: reconcileTask,
      schedule: config.scheduleReconcile,
      setting: "SCHEDULE_RECONCILE",
    },
    {
      name: "webhook_sweep",
      task: sweepWebhookDeliveriesTask,
      schedule: config.scheduleWebhookSweep,
      setting: "SCHEDULE_WEBHOOK_SWEEP",
    },
  ];
}
