/**
 * `deno task bench:queue`: this queue against BullMQ on the same Redis, same process, same
 * concurrency, no-op handlers, jobs removed on completion and acked after their handler.
 *
 * Each round runs, for each system in turn:
 * - throughput: JOBS jobs enqueued first, then one worker drains them; jobs/s = JOBS / time from
 *   the worker's start to the last completion (as reported after the ack);
 * - latency: LAT_JOBS jobs enqueued at LAT_RATE jobs/s into a running worker; the time from the
 *   enqueue call to the handler's start, p50 and p99.
 * The medians over ROUNDS rounds are reported; the last line is one JSON object.
 *
 * Settings (environment): REDIS_URL (default redis://127.0.0.1:6379), ROUNDS (5), JOBS (20000),
 * CONCURRENCY (50), LAT_JOBS (3000), LAT_RATE (2000).
 */
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";
import { Queue } from "../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { configureLogging } from "../shared/log/logger.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";

const num = (name: string, def: number) => Number(Deno.env.get(name) ?? def);
const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const ROUNDS = num("ROUNDS", 5);
const JOBS = num("JOBS", 20_000);
const CONCURRENCY = num("CONCURRENCY", 50);
const LAT_JOBS = num("LAT_JOBS", 3000);
const LAT_RATE = num("LAT_RATE", 2000);

configureLogging({ level: "error" });

const noop = defineTask("bench.noop", z.object({ t: z.number() }), { maxAttempts: 1 });
const now = () => performance.now();

interface Result {
  jobsPerS: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Calls `enqueue` `count` times at LAT_RATE per second. */
async function paced(count: number, enqueue: () => Promise<unknown>): Promise<void> {
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((LAT_RATE * tickMs) / 1000));
  const start = now();
  const pending: Promise<unknown>[] = [];
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor(((now() - start) / 1000) * LAT_RATE) + perTick);
    while (sent < due) {
      pending.push(enqueue());
      sent++;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(pending);
}

function waitCount(get: () => number, target: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (get() >= target ? resolve() : setTimeout(check, 1));
    check();
  });
}

async function benchOurs(admin: Redis, jobs: number, latJobs: number): Promise<Result> {
  const prefix = `bench:${crypto.randomUUID().slice(0, 8)}:`;
  const q = new Queue(admin, "default", { prefix });
  try {
    // Throughput: a backlog drained by one worker.
    for (let i = 0; i < jobs; i += 1000) {
      const n = Math.min(1000, jobs - i);
      await Promise.all(Array.from({ length: n }, () => q.enqueue(noop, { t: 0 })));
    }
    let done = 0;
    const w1 = new QueueWorker("default", [taskHandler(noop, () => {})], {
      redisUrl: REDIS_URL,
      prefix,
      concurrency: CONCURRENCY,
    });
    w1.events.on("completed", () => done++);
    const t0 = now();
    const run1 = w1.run();
    await waitCount(() => done, jobs);
    const elapsed = now() - t0;
    await w1.close();
    await run1;

    // Latency: enqueue-to-start at a steady rate.
    const lat: number[] = [];
    const w2 = new QueueWorker("default", [
      taskHandler(noop, (p) => void lat.push(now() - p.t)),
    ], { redisUrl: REDIS_URL, prefix, concurrency: CONCURRENCY });
    const run2 = w2.run();
    await w2.waitUntilReady();
    await paced(latJobs, () => q.enqueue(noop, { t: now() }));
    await waitCount(() => lat.length, latJobs);
    await w2.close();
    await run2;
    lat.sort((a, b) => a - b);
    return {
      jobsPerS: jobs / (elapsed / 1000),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
    };
  } finally {
    await deleteByPrefix(admin, prefix);
  }
}

async function benchBull(admin: Redis, jobs: number, latJobs: number): Promise<Result> {
  const prefix = `bench:${crypto.randomUUID().slice(0, 8)}:bull`;
  const u = new URL(REDIS_URL);
  const connection = {
    host: u.hostname,
    port: Number(u.port || 6379),
    maxRetriesPerRequest: null,
  };
  const name = "noop";
  const q = new BullQueue(name, {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
  });
  try {
    for (let i = 0; i < jobs; i += 1000) {
      const n = Math.min(1000, jobs - i);
      await q.addBulk(Array.from({ length: n }, () => ({ name, data: { t: 0 } })));
    }
    let done = 0;
    const t0 = now();
    const w1 = new BullWorker(name, async () => {}, {
      connection,
      prefix,
      concurrency: CONCURRENCY,
    });
    w1.on("completed", () => done++);
    await waitCount(() => done, jobs);
    const elapsed = now() - t0;
    await w1.close();

    const lat: number[] = [];
    const w2 = new BullWorker(name, (job) => {
      lat.push(now() - (job.data as { t: number }).t);
      return Promise.resolve();
    }, { connection, prefix, concurrency: CONCURRENCY });
    await w2.waitUntilReady();
    await paced(latJobs, () => q.add(name, { t: now() }));
    await waitCount(() => lat.length, latJobs);
    await w2.close();
    lat.sort((a, b) => a - b);
    return {
      jobsPerS: jobs / (elapsed / 1000),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
    };
  } finally {
    await q.close();
    await deleteByPrefix(admin, prefix);
  }
}

const admin = new Redis(REDIS_URL);
const ours: Result[] = [];
const bull: Result[] = [];
const fmt = (r: Result) =>
  `${Math.round(r.jobsPerS)} jobs/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`;
console.log(
  `bench:queue rounds=${ROUNDS} jobs=${JOBS} concurrency=${CONCURRENCY} latency: ${LAT_JOBS} jobs at ${LAT_RATE}/s`,
);
try {
  // A short unreported round each, so that neither system is measured cold (JIT, scripts).
  await benchOurs(admin, Math.ceil(JOBS / 10), Math.ceil(LAT_JOBS / 5));
  await benchBull(admin, Math.ceil(JOBS / 10), Math.ceil(LAT_JOBS / 5));
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate the order so neither system always runs on a warmer Redis.
    const first = round % 2 === 1 ? "ours" : "bullmq";
    for (const which of first === "ours" ? ["ours", "bullmq"] : ["bullmq", "ours"]) {
      const r = which === "ours"
        ? await benchOurs(admin, JOBS, LAT_JOBS)
        : await benchBull(admin, JOBS, LAT_JOBS);
      (which === "ours" ? ours : bull).push(r);
      console.log(`round ${round} ${which.padEnd(6)} ${fmt(r)}`);
    }
  }
} finally {
  admin.disconnect();
}

const med = (rs: Result[], k: keyof Result) => median(rs.map((r) => r[k]));
const summary = {
  bench: "queue",
  ours_jobs_per_s: Math.round(med(ours, "jobsPerS")),
  bullmq_jobs_per_s: Math.round(med(bull, "jobsPerS")),
  ratio: Number((med(ours, "jobsPerS") / med(bull, "jobsPerS")).toFixed(2)),
  ours_p50_ms: Number(med(ours, "p50").toFixed(3)),
  bullmq_p50_ms: Number(med(bull, "p50").toFixed(3)),
  ours_p99_ms: Number(med(ours, "p99").toFixed(3)),
  bullmq_p99_ms: Number(med(bull, "p99").toFixed(3)),
  concurrency: CONCURRENCY,
  jobs: JOBS,
  rounds: ROUNDS,
};
console.log(JSON.stringify(summary));
Deno.exit(0);
