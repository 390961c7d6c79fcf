import assert from "node:assert/strict";
import { cronTick, parseSchedule } from "./cron_tick.ts";

const at = (iso: string) => Date.parse(iso);

Deno.test("cronTick() maps a firing to the schedule's latest match at or before it", async (t) => {
  const cases: [schedule: string, firedAt: string, tick: string, intervalMs: number][] = [
    ["*/5 * * * *", "2024-01-01T00:05:00.000Z", "2024-01-01T00:05:00.000Z", 300_000],
    ["*/5 * * * *", "2024-01-01T00:05:00.004Z", "2024-01-01T00:05:00.000Z", 300_000],
    // Late by almost a whole interval: still the same tick.
    ["*/5 * * * *", "2024-01-01T00:09:57.000Z", "2024-01-01T00:05:00.000Z", 300_000],
    // A hair early (timer or clock not exact): counts for the coming tick.
    ["*/5 * * * *", "2024-01-01T00:04:58.500Z", "2024-01-01T00:05:00.000Z", 300_000],
    // Early by more than the tolerance: the previous tick.
    ["*/5 * * * *", "2024-01-01T00:04:57.000Z", "2024-01-01T00:00:00.000Z", 300_000],
    ["0 3 * * *", "2024-03-10T03:00:00.020Z", "2024-03-10T03:00:00.000Z", 86_400_000],
    ["0 3 * * *", "2024-03-10T02:59:59.020Z", "2024-03-10T03:00:00.000Z", 86_400_000],
    ["* * * * *", "2024-12-31T23:59:59.500Z", "2025-01-01T00:00:00.000Z", 60_000],
    // UTC whatever the process's time zone; month and year boundaries.
    ["0 0 1 * *", "2024-03-01T00:00:00.100Z", "2024-03-01T00:00:00.000Z", 31 * 86_400_000],
  ];
  for (const [schedule, firedAt, tick, intervalMs] of cases) {
    await t.step(`${schedule} fired at ${firedAt}`, () => {
      const r = cronTick(schedule, at(firedAt));
      assert.equal(r.tick.toISOString(), tick);
      assert.equal(r.intervalMs, intervalMs);
    });
  }
});

Deno.test("cronTick() honours earlyToleranceMs", () => {
  const fired = at("2024-01-01T00:04:59.000Z");
  assert.equal(
    cronTick("*/5 * * * *", fired, { earlyToleranceMs: 0 }).tick.toISOString(),
    "2024-01-01T00:00:00.000Z",
  );
  assert.equal(
    cronTick("*/5 * * * *", fired, { earlyToleranceMs: 1000 }).tick.toISOString(),
    "2024-01-01T00:05:00.000Z",
  );
});

Deno.test("cronTick() gives the same tick to every firing between two ticks", () => {
  const start = at("2024-06-01T12:00:00.000Z");
  const ticks = new Set<string>();
  for (let ms = 0; ms < 60_000 - 2000; ms += 997) {
    ticks.add(cronTick("* * * * *", start + ms).tick.toISOString());
  }
  assert.deepEqual([...ticks], ["2024-06-01T12:00:00.000Z"]);
});

Deno.test("parseSchedule() refuses what Deno.cron does not take: 6 fields, garbage", () => {
  assert.throws(
    () => parseSchedule("*/10 * * * * *"),
    /expected 5 fields.*"\*\/10 \* \* \* \* \*"/,
  );
  assert.throws(() => parseSchedule("every minute"), TypeError);
  assert.throws(() => cronTick("61 * * * *", Date.now()), TypeError);
});

Deno.test("cronTick() refuses a bad clock reading or tolerance", () => {
  assert.throws(() => cronTick("* * * * *", NaN), RangeError);
  assert.throws(() => cronTick("* * * * *", Date.now(), { earlyToleranceMs: -1 }), RangeError);
});
