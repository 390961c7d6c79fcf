/**
 * The tick a cron firing belongs to. `Deno.cron` tells its handler nothing about the time it
 * fired for, so every replica computes it from the schedule and its clock: the latest time the
 * schedule matches at or before now. Replicas that fire for the same tick (a little late, or a
 * hair early) compute the same tick, and the tick names the dedup key of the job they enqueue.
 */
import type { Cron } from "croner";
import { errorMessage, parseCronSchedule } from "@semantik/shared";

/** Options of {@link cronTick}. */
export interface CronTickOptions {
  /**
   * A firing this much before a tick still counts for that tick (timers and clocks are not exact
   * to the millisecond). A firing later than the tick counts for it until the next tick.
   * @default {2000}
   */
  earlyToleranceMs?: number;
}

/** A tick of a schedule. */
export interface CronTick {
  /** When the schedule matched (UTC, whole minutes for the 5-field schedules Deno.cron takes). */
  tick: Date;
  /** Time from this tick to the schedule's next one, in ms. */
  intervalMs: number;
}

const parsed = new Map<string, Cron>();

/** The croner job (never run) that evaluates `schedule` in UTC; a TypeError when it is not valid. */
export function parseSchedule(schedule: string): Cron {
  let cron = parsed.get(schedule);
  if (!cron) {
    try {
      // Deno.cron takes the 5-field form only; seconds are 0. The rules are the settings' own.
      cron = parseCronSchedule(schedule);
    } catch (err) {
      throw new TypeError(
        `Cannot read cron schedule: expected 5 fields (minute hour day month weekday), got ${
          JSON.stringify(schedule)
        } (${errorMessage(err)})`,
      );
    }
    parsed.set(schedule, cron);
  }
  return cron;
}

/**
 * The tick of `schedule` that a firing at `now` (ms since the epoch) belongs to: the latest match
 * at or before `now + earlyToleranceMs`.
 */
export function cronTick(schedule: string, now: number, options: CronTickOptions = {}): CronTick {
  const { earlyToleranceMs = 2000 } = options;
  if (!Number.isFinite(now)) {
    throw new RangeError(`Cannot compute a cron tick: now must be a finite time, got ${now}`);
  }
  if (!Number.isInteger(earlyToleranceMs) || earlyToleranceMs < 0) {
    throw new RangeError(
      `Cannot compute a cron tick: earlyToleranceMs must be a non-negative integer, got ${earlyToleranceMs}`,
    );
  }
  const cron = parseSchedule(schedule);
  // previousRuns looks strictly before its reference; +1 makes a match exactly there count.
  const [tick] = cron.previousRuns(1, new Date(now + earlyToleranceMs + 1));
  if (!tick) {
    throw new RangeError(
      `Cannot compute a cron tick: ${JSON.stringify(schedule)} never matched before ${
        new Date(now).toISOString()
      }`,
    );
  }
  const next = cron.nextRun(tick);
  // A schedule with no next match (a date in the past) still needs a finite dedup window.
  const intervalMs = next ? next.getTime() - tick.getTime() : 24 * 3600_000;
  return { tick, intervalMs };
}
