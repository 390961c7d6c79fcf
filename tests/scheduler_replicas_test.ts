/**
 * Scheduler replicas as real processes on the real `Deno.cron`: DENO_CRON_TEST_SCHEDULE_OFFSET
 * makes each fire every 100 ms, and a shared fast clock (one minute a second) makes the ticks
 * pass quickly, so three replicas fire many times for every tick of every job.
 */
import assert from "node:assert/strict";
import { QueueClient } from "@semantik/shared";
import { testRedisUrl, waitFor, withTestRedis } from "@semantik/shared/testing";
import type { SchedulerFire } from "@semantik/scheduler";
import { type Proc, spawnDeno } from "./helpers/process.ts";

const REPLICA = new URL("./procs/scheduler_replica.ts", import.meta.url).pathname;
const MAIN = new URL("../scheduler/main.ts", import.meta.url).pathname;

function firesOf(p: Proc): SchedulerFire[] {
  const out: SchedulerFire[] = [];
  for (const line of p.lines) {
    if (!line.startsWith('{"fire"')) continue;
    out.push((JSON.parse(line) as { fire: SchedulerFire }).fire);
  }
  return out;
}

async function queuedJobs(
  queues: QueueClient,
): Promise<{ jobId: string; task: string; tick: string }[]> {
  const entries = await queues.redis.xrange(queues.queue("default").keys.stream, "-", "+");
  return entries.map(([, f]) => {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
    return {
      jobId: m.get("id")!,
      task: m.get("n")!,
      tick: (JSON.parse(m.get("d")!) as { tick: string }).tick,
    };
  });
}

Deno.test("three scheduler processes on the real Deno.cron enqueue each tick of each job exactly once", async () => {
  await withTestRedis(async (r) => {
    const epoch = Date.now();
    const env = {
      REDIS_URL: r.url,
      REDIS_PREFIX: r.prefix,
      DENO_CRON_TEST_SCHEDULE_OFFSET: "100",
      SCHEDULE_SYNC_CHECK: "*/2 * * * *",
      SCHEDULE_CLEANUP: "* * * * *",
      SCHEDULE_RECONCILE: "* * * * *",
      CLOCK_SPEED: "60",
      CLOCK_EPOCH: String(epoch),
      CLOCK_BASE: String(Date.parse("2031-01-01T00:00:00.000Z")),
    };
    const procs = [0, 1, 2].map(() => spawnDeno(REPLICA, { env }));
    try {
      await Promise.all(procs.map((p) => p.waitForLine(/^ready$/)));
      // Until every replica has fired for at least four reconcile ticks of its own.
      await waitFor(
        "four reconcile ticks fired by every replica",
        () =>
          procs.every((p) =>
            new Set(firesOf(p).filter((f) => f.job === "reconcile").map((f) => f.tick)).size >= 4
          ),
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      for (const p of procs) {
        const status = await p.stop("SIGTERM");
        assert.equal(status.code, 0, p.lines.join("\n"));
      }

      const fires = procs.flatMap((p, replica) => firesOf(p).map((f) => ({ ...f, replica })));
      const queues = new QueueClient(r.redis, { prefix: r.prefix });
      const jobs = await queuedJobs(queues);
      const key = (x: { task: string; tick: string }) => `${x.task}@${x.tick}`;

      // The queue holds one job per (task, tick) fired, and no other.
      assert.equal(new Set(jobs.map(key)).size, jobs.length, "a tick was enqueued twice");
      assert.deepEqual(new Set(jobs.map(key)), new Set(fires.map(key)));
      // Exactly one firing per (task, tick) created it; every other one saw that job.
      const byKey = Map.groupBy(fires, key);
      for (const [k, group] of byKey) {
        const created = group.filter((f) => f.created);
        assert.equal(created.length, 1, `${k}: ${created.length} firings created a job`);
        const job = jobs.find((j) => key(j) === k)!;
        assert.ok(group.every((f) => f.jobId === job.jobId), `${k}: firings disagree on the job`);
      }
      // The replicas did contend: several of them fired for the same ticks.
      const contended = [...byKey.values()].filter((g) =>
        new Set(g.map((f) => f.replica)).size >= 2
      );
      assert.ok(contended.length >= 3, `only ${contended.length} ticks fired by several replicas`);
      // The stepped schedule ticked on even minutes only.
      const syncTicks = jobs.filter((j) => j.task === "sync.check_continuous_sync");
      assert.ok(syncTicks.length >= 1);
      assert.ok(syncTicks.every((j) => new Date(j.tick).getUTCMinutes() % 2 === 0));
    } finally {
      await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    }
  });
});

Deno.test("deno task scheduler enqueues the current tick of each job once and exits 0 on SIGTERM", async () => {
  await withTestRedis(async (r) => {
    const proc = spawnDeno(MAIN, {
      env: {
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: r.prefix,
        DENO_CRON_TEST_SCHEDULE_OFFSET: "50",
        LOG_LEVEL: "debug",
        METRICS_PORT: "0",
      },
    });
    try {
      await proc.waitForLine(/scheduler started/);
      const [, metricsUrl] = await proc.waitForLine(/metrics listening url=(\S+)/);
      // Many firings of every job, all within a few real minutes at most.
      await waitFor(
        "ten duplicate firings of each job",
        () =>
          ["sync.check_continuous_sync", "maintenance.cleanup_operations", "maintenance.reconcile"]
            .every((task) =>
              proc.lines.filter((l) => l.includes("tick already enqueued") && l.includes(task))
                .length >= 10
            ),
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      // Its metrics endpoint counts the same firings (scraped while it runs).
      const ready = await fetch(metricsUrl!.replace("/metrics", "/readyz"));
      assert.equal(ready.status, 200, await ready.text());
      const scraped = await (await fetch(metricsUrl!)).text();
      const ticks = (job: string, result: string) =>
        Number(
          new RegExp(
            `^semantik_scheduler_ticks_total\\{cron="${job}",result="${result}"\\} (\\d+)$`,
            "m",
          )
            .exec(scraped)?.[1] ?? 0,
        );
      for (const job of ["check_continuous_sync", "cleanup_operations", "reconcile"]) {
        assert.ok(ticks(job, "enqueued") >= 1, `${job} enqueued: ${scraped}`);
        assert.ok(ticks(job, "skipped") >= 10, `${job} skipped: ${scraped}`);
      }
      assert.match(
        scraped,
        /^semantik_scheduler_last_fire_timestamp_seconds\{cron="reconcile"\} \d/m,
      );
      assert.match(scraped, /^process_resident_memory_bytes \d/m);

      const status = await proc.stop("SIGTERM");
      assert.equal(status.code, 0, proc.lines.join("\n"));
      assert.ok(proc.lines.some((l) => l.includes("scheduler stopped")));

      const jobs = await queuedJobs(new QueueClient(r.redis, { prefix: r.prefix }));
      const enqueuedLines = proc.lines.filter((l) => /\benqueued\b/.test(l) && !/already/.test(l));
      assert.equal(jobs.length, enqueuedLines.length, proc.lines.join("\n"));
      // Real time: one tick per job, or two if a tick boundary passed while it ran.
      for (const task of ["maintenance.cleanup_operations", "maintenance.reconcile"]) {
        const n = jobs.filter((j) => j.task === task).length;
        assert.ok(n >= 1 && n <= 3, `${task}: ${n} jobs`);
      }
      // Each tick is the schedule's latest match: whole minutes (UTC), 03:00 for cleanup.
      for (const j of jobs) assert.equal(new Date(j.tick).getUTCSeconds(), 0);
      const cleanup = jobs.filter((j) => j.task === "maintenance.cleanup_operations");
      assert.ok(cleanup.every((j) => j.tick.endsWith("T03:00:00.000Z")));
      assert.equal(new Set(jobs.map((j) => `${j.task}@${j.tick}`)).size, jobs.length);
    } finally {
      await proc.stop("SIGKILL");
    }
  });
});
