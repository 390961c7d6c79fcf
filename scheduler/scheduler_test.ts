import assert from "node:assert/strict";
import {
  checkContinuousSyncTask,
  cleanupOperationsTask,
  getLogger,
  type QueueClient,
  QueueClient as Queues,
  QueueWorker,
  reconcileTask,
  sweepWebhookDeliveriesTask,
  taskHandler,
} from "@semantik/shared";
import { type TestRedis, waitFor, withTestRedis } from "@semantik/shared/testing";
import {
  type CronRegistrar,
  type SchedulerFire,
  type SchedulerOptions,
  startScheduler,
} from "./scheduler.ts";
import { scheduledJobs } from "./scheduled_jobs.ts";

const log = getLogger("test");
const CONFIG = {
  scheduleSyncCheck: "*/5 * * * *",
  scheduleCleanup: "0 3 * * *",
  scheduleReconcile: "* * * * *",
  scheduleWebhookSweep: "*/2 * * * *",
};

/** A stand-in for Deno.cron: records each job's handler so a test fires it at a chosen time. */
class FakeCron {
  readonly handlers = new Map<string, () => Promise<void>>();
  readonly options = new Map<string, { backoffSchedule?: number[]; signal?: AbortSignal }>();
  readonly register: CronRegistrar = (name, _schedule, options, handler) => {
    // What Deno.cron checks.
    if (!/^[A-Za-z0-9_\- ]+$/.test(name)) throw new TypeError("Invalid cron name");
    if (this.handlers.has(name)) throw new TypeError("Cron with this name already exists");
    this.handlers.set(name, handler);
    this.options.set(name, options);
    return new Promise<void>((resolve) => {
      if (options.signal?.aborted) return resolve();
      options.signal?.addEventListener("abort", () => {
        this.handlers.delete(name);
        resolve();
      });
    });
  };
}

/** One scheduler replica with its own clock and its own cron. */
class Replica {
  now = 0;
  readonly cron = new FakeCron();
  readonly fires: SchedulerFire[] = [];
  readonly scheduler;
  constructor(queues: QueueClient, options: SchedulerOptions = {}) {
    this.scheduler = startScheduler({ config: CONFIG, queues, log }, {
      clock: () => this.now,
      cron: this.cron.register,
      onFired: (f) => this.fires.push(f),
      ...options,
    });
  }
  /** Fires job `name` as Deno.cron would at time `at`. */
  fireAt(name: string, at: number): Promise<void> {
    this.now = at;
    const handler = this.cron.handlers.get(`semantik-${name}`);
    assert.ok(handler, `no cron job ${name}`);
    return handler();
  }
}

/** The jobs waiting in the default queue: task name and payload. */
async function queued(r: TestRedis): Promise<{ task: string; tick: string }[]> {
  const queues = new Queues(r.redis, { prefix: r.prefix });
  const entries = await r.redis.xrange(queues.queue("default").keys.stream, "-", "+");
  return entries.map(([, fields]) => {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
    return { task: m.get("n")!, tick: (JSON.parse(m.get("d")!) as { tick: string }).tick };
  });
}

const T0 = Date.parse("2030-05-01T10:00:00.000Z");
const MIN = 60_000;

Deno.test("scheduledJobs() maps each SCHEDULE_* setting to its task", () => {
  const jobs = scheduledJobs(CONFIG);
  assert.deepEqual(
    jobs.map((j) => [j.task.name, j.schedule, j.setting]),
    [
      [checkContinuousSyncTask.name, "*/5 * * * *", "SCHEDULE_SYNC_CHECK"],
      [cleanupOperationsTask.name, "0 3 * * *", "SCHEDULE_CLEANUP"],
      [reconcileTask.name, "* * * * *", "SCHEDULE_RECONCILE"],
      [sweepWebhookDeliveriesTask.name, "*/2 * * * *", "SCHEDULE_WEBHOOK_SWEEP"],
    ],
  );
});

Deno.test("three schedulers firing at jittered times enqueue each tick exactly once", async () => {
  await withTestRedis(async (r) => {
    const queues = new Queues(r.redis, { prefix: r.prefix });
    const replicas = [new Replica(queues), new Replica(queues), new Replica(queues)];
    try {
      // Ten reconcile ticks; each replica fires up to 1.5 s early or up to 50 s late, all at once.
      const offsets = [-1500, 0, 3, 250, 12_000, 50_000];
      for (let i = 0; i < 10; i++) {
        const tick = T0 + i * MIN;
        await Promise.all(
          replicas.flatMap((rep, k) =>
            [0, 1].map(async (n) => {
              const at = tick + offsets[(i + k * 2 + n) % offsets.length]!;
              await rep.fireAt("reconcile", at);
            })
          ),
        );
      }
      const fires = replicas.flatMap((r) => r.fires);
      assert.equal(fires.length, 60);
      const created = fires.filter((f) => f.created);
      assert.deepEqual(
        created.map((f) => f.tick).sort(),
        Array.from({ length: 10 }, (_, i) => new Date(T0 + i * MIN).toISOString()),
      );
      // Every replica's duplicate names the job that won.
      for (const f of fires) {
        const winner = created.find((c) => c.tick === f.tick)!;
        assert.equal(f.jobId, winner.jobId);
        assert.equal(f.dedupKey, `maintenance.reconcile:${f.tick}`);
      }
      const jobs = await queued(r);
      assert.equal(jobs.length, 10);
      assert.ok(jobs.every((j) => j.task === "maintenance.reconcile"));
      assert.equal(new Set(jobs.map((j) => j.tick)).size, 10);
    } finally {
      await Promise.all(replicas.map((rep) => rep.scheduler.close()));
    }
  });
});

Deno.test("each job's dedup key is its own: the same instant enqueues one job per task", async () => {
  await withTestRedis(async (r) => {
    const queues = new Queues(r.redis, { prefix: r.prefix });
    const a = new Replica(queues);
    const b = new Replica(queues);
    try {
      // 03:00 UTC on a multiple of 5 minutes: all three schedules tick together.
      const at = Date.parse("2030-05-02T03:00:00.010Z");
      for (const rep of [a, b]) {
        for (const name of ["check_continuous_sync", "cleanup_operations", "reconcile"]) {
          await rep.fireAt(name, at);
        }
      }
      const jobs = await queued(r);
      assert.deepEqual(jobs.map((j) => j.task).sort(), [
        "maintenance.cleanup_operations",
        "maintenance.reconcile",
        "sync.check_continuous_sync",
      ]);
      assert.ok(jobs.every((j) => j.tick === "2030-05-02T03:00:00.000Z"));
    } finally {
      await a.scheduler.close();
      await b.scheduler.close();
    }
  });
});

Deno.test("a replica firing late, after the tick's job already ran, does not enqueue it again", async () => {
  await withTestRedis(async (r) => {
    const queues = new Queues(r.redis, { prefix: r.prefix });
    const early = new Replica(queues);
    const late = new Replica(queues);
    const ran: string[] = [];
    const worker = new QueueWorker(
      "default",
      [taskHandler(checkContinuousSyncTask, (p) => void ran.push(p.tick))],
      { redisUrl: r.target, prefix: r.prefix, consumer: "test", blockMs: 200 },
    );
    const running = worker.run();
    try {
      await early.fireAt("check_continuous_sync", T0 + 5);
      const [first] = early.fires;
      assert.ok(first?.created);
      // The job ran and is gone; its dedup key stays for the schedule's interval.
      await waitFor("the job to run", async () => (await queues.getJobState(first.jobId)) === null);
      assert.deepEqual(ran, [first.tick]);
      const ttl = await r.redis.pttl(queues.queue("default").keys.dedup(first.dedupKey));
      assert.ok(ttl > 5 * MIN && ttl <= 6 * MIN, `dedup key TTL ${ttl} ms`);

      await late.fireAt("check_continuous_sync", T0 + 4 * MIN);
      assert.equal(late.fires[0]?.created, false);
      assert.equal(late.fires[0]?.tick, first.tick);
      // The next tick is a new job.
      await late.fireAt("check_continuous_sync", T0 + 5 * MIN + 20);
      assert.equal(late.fires[1]?.created, true);
      await waitFor("the second job to run", () => ran.length === 2);
      assert.deepEqual(ran, [first.tick, new Date(T0 + 5 * MIN).toISOString()]);
    } finally {
      await worker.close();
      await running;
      await early.scheduler.close();
      await late.scheduler.close();
    }
  });
});

Deno.test("a firing whose enqueue fails throws, so Deno.cron retries it with backoff", async () => {
  const queues = {
    enqueue: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6379")),
  } as unknown as QueueClient;
  const rep = new Replica(queues, { backoffSchedule: [10, 20] });
  try {
    await assert.rejects(rep.fireAt("reconcile", T0), /ECONNREFUSED/);
    assert.deepEqual(rep.cron.options.get("semantik-reconcile")?.backoffSchedule, [10, 20]);
    assert.equal(rep.fires.length, 0);
  } finally {
    await rep.scheduler.close();
  }
});

Deno.test("startScheduler() names the setting of a schedule Deno.cron cannot take", () => {
  const queues = {} as QueueClient;
  assert.throws(
    () =>
      startScheduler({ config: { ...CONFIG, scheduleReconcile: "*/10 * * * * *" }, queues, log }, {
        cron: new FakeCron().register,
      }),
    /SCHEDULE_RECONCILE is not a valid schedule/,
  );
  // A schedule croner takes but Deno.cron refuses is reported the same way.
  const refusing: CronRegistrar = () => {
    throw new TypeError("Invalid cron schedule");
  };
  assert.throws(
    () => startScheduler({ config: CONFIG, queues, log }, { cron: refusing }),
    /Deno\.cron refused job check_continuous_sync \(SCHEDULE_SYNC_CHECK="\*\/5 \* \* \* \*"\): Invalid cron schedule/,
  );
});

Deno.test("close() and the signal unregister every cron job; close() is idempotent", async () => {
  const queues = {} as QueueClient;
  const cron = new FakeCron();
  const ac = new AbortController();
  const s = startScheduler({ config: CONFIG, queues, log }, {
    cron: cron.register,
    signal: ac.signal,
  });
  assert.deepEqual([...cron.handlers.keys()].sort(), [
    "semantik-check_continuous_sync",
    "semantik-cleanup_operations",
    "semantik-reconcile",
    "semantik-webhook_sweep",
  ]);
  ac.abort();
  await s.close();
  await s.close();
  assert.equal(cron.handlers.size, 0);
  assert.ok([...cron.options.values()].every((o) => o.signal?.aborted));
});

Deno.test("the runtime's close stops the scheduler", async () => {
  const queues = {} as QueueClient;
  const cron = new FakeCron();
  const closers: (() => Promise<void> | void)[] = [];
  startScheduler({ config: CONFIG, queues, log, onClose: (fn) => closers.push(fn) }, {
    cron: cron.register,
  });
  assert.equal(closers.length, 1);
  await closers[0]!();
  assert.equal(cron.handlers.size, 0);
});
