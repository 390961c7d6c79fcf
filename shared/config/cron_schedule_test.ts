import assert from "node:assert/strict";
import { normalizeCronSchedule } from "./cron_schedule.ts";

/** Whether Deno.cron registers `schedule` (registered and cancelled at once). */
async function denoCronAccepts(schedule: string): Promise<boolean> {
  const controller = new AbortController();
  let registration: Promise<void>;
  try {
    registration = Deno.cron(
      `cron-schedule-test-${crypto.randomUUID()}`,
      schedule,
      { signal: controller.signal },
      () => {},
    );
  } catch {
    return false;
  }
  controller.abort();
  await registration.catch(() => {});
  return true;
}

const SCHEDULES = [
  "* * * * *",
  "*/5 * * * *",
  "0 3 * * MON",
  "0 0 L * *",
  "0 0 1W * *",
  "0 0 * * SUN",
  "0 0 * * MON-FRI/2",
  "0 0 * * */2",
  "0 0 * * FRI#2",
  "0-59/15 * * * *",
  "0 0 * JAN-MAR *",
  "0 0 * * * *",
  "@daily",
  "0 0 ? * *",
  "0 0 * * 0-7",
  "60 * * * *",
  "*/0 * * * *",
  "0 0 *",
];

Deno.test("every schedule accepted is one Deno.cron accepts, and each kind of refusal is seen", async () => {
  let refused = 0;
  for (const schedule of SCHEDULES) {
    try {
      normalizeCronSchedule(schedule);
    } catch {
      refused++;
      continue;
    }
    assert.ok(await denoCronAccepts(schedule), `accepted ${JSON.stringify(schedule)}`);
  }
  assert.equal(refused, 7);
});

Deno.test("a numbered day of the week is refused: Deno.cron and croner number days differently", async () => {
  // Deno.cron takes these (1 = Sunday there, Monday for croner and crontab).
  for (const schedule of ["0 3 * * 1", "0 3 * * 1-5", "0 3 * * 7", "0 3 * * 5#2"]) {
    assert.ok(await denoCronAccepts(schedule), schedule);
    assert.throws(() => normalizeCronSchedule(schedule), /with names/, schedule);
  }
});

Deno.test("a refused schedule says why", () => {
  assert.throws(
    () => normalizeCronSchedule("0 0 * * * *"),
    /got "0 0 \* \* \* \*": it has 6 fields/,
  );
  assert.throws(() => normalizeCronSchedule("@hourly"), /nicknames/);
  assert.throws(() => normalizeCronSchedule("0 0 ? * *"), /\? is not supported/);
});

Deno.test("extra spaces between fields are normalised away", () => {
  assert.equal(normalizeCronSchedule("  */5   * * * *\t"), "*/5 * * * *");
});
