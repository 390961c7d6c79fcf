/**
 * The cron schedules the scheduler runs, checked by the rules of both tools that read them:
 * `Deno.cron` registers the schedule (5 fields, minute hour day-of-month month day-of-week, UTC;
 * no `@daily`-style nicknames, no `?`) and croner computes each firing's tick from it
 * (`scheduler/cron_tick.ts`). The two number the days of the week differently (Deno.cron 1-7 from
 * Sunday, croner 0-7 from Sunday with 1 = Monday), so the day of the week is written with names
 * (`MON-FRI`, `SUN`), `*` and steps. Settings are checked with these rules at start, so a schedule
 * the scheduler would refuse, or would fire on other days than its ticks say, is refused with the
 * other bad settings.
 */
import { Cron } from "croner";

/**
 * `schedule` with its fields separated by single spaces, or a TypeError saying why the scheduler
 * would refuse it.
 */
export function normalizeCronSchedule(schedule: string): string {
  const fields = schedule.trim().split(/\s+/);
  const refuse = (why: string): never => {
    throw new TypeError(
      `expected 5 fields (minute hour day month weekday), got ${JSON.stringify(schedule)}: ${why}`,
    );
  };
  if (schedule.trim().startsWith("@")) refuse("nicknames such as @daily are not supported");
  if (fields.length !== 5) refuse(`it has ${fields.length} field${fields.length === 1 ? "" : "s"}`);
  if (fields.some((f) => f.includes("?"))) refuse("? is not supported; use *");
  if (/\d/.test(fields[4]!.replace(/\/\d+|#\d/g, ""))) {
    refuse(
      "write the day of the week with names (MON-FRI, SUN): Deno.cron numbers days 1-7 from Sunday, other crons 0-6",
    );
  }
  const normalized = fields.join(" ");
  try {
    new Cron(normalized, { paused: true, timezone: "UTC", mode: "5-part" }).stop();
  } catch (err) {
    refuse(err instanceof Error ? err.message : String(err));
  }
  return normalized;
}

/** The croner job (never run) that evaluates `schedule` in UTC; a TypeError when it is refused. */
export function parseCronSchedule(schedule: string): Cron {
  return new Cron(normalizeCronSchedule(schedule), {
    paused: true,
    timezone: "UTC",
    mode: "5-part",
  });
}
