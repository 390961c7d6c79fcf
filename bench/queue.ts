/**
 * `deno task bench:queue`: this queue against BullMQ on the same Redis, same process, same
 * concurrency, no-op handlers, jobs removed on completion and acked after their handler.
 *
 * Each round runs, for each system in turn:
 * - throughput: JOBS jobs enqueued first, then one worker drains them; jobs/s = JOBS / time from
 *   the worker's start to the last completion (as reported after the ack);
 * - latency: LAT_JOBS jobs enqueued at LAT_RATE jobs/s into a running worker; the time from the
 *   enqueue call to the handler's start, p50 and p99.
 * Both are run at CONCURRENCY and again at concurrency 1, where batching cannot help: there a
 * job's completion and the next job's fetch must share a round trip. The medians over ROUNDS
 * rounds are reported; the last line is one JSON object (`*_c1` for concurrency 1).
 *
 * Settings (environment): REDIS_URL (default redis://127.0.0.1:6379), ROUNDS (5), JOBS (20000),
 * CONCURRENCY (50), JOBS_C1 (JOBS / 2, the backlog at concurrency 1), LAT_JOBS (3000),
 * LAT_RATE (2000), LAT_RATE_C1 (LAT_RATE; keep it under what one slot drains, or the latency
 * measured at concurrency 1 is the backlog's), PREFETCH (our workers' `prefetch`, jobs read
 * ahead beyond the free slots: `auto`, the product's default `WORKER_PREFETCH`, or a number; 0
 * runs ours without it; BullMQ has no such setting).
 *
 * `--cluster` (a local Redis Cluster started for the run) or `REDIS_CLUSTER_NODES` (one that
 * runs): one node against the cluster and the cluster with `WAIT 1`, ours only
 * (`bench/queue_cluster.ts`; there ROUNDS defaults to 3, JOBS to 5000, LAT_JOBS to 1000,
 * LAT_RATE to 1000, EVENTS to 2000).
 */
import { Queue as BullQueue, Worker as BullWorker } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";
import { Queue } from "../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { configureLogging } from "../shared/log/logger.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";
import { createRedis } from "../shared/redis/redis.ts";
import { benchQueueTopologies } from "./queue_cluster.ts";
import { median, percentile } from "./_common.ts";

const num = (name: string, def: number) => Number(Deno.env.get(name) ?? def);
const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const ROUNDS = num("ROUNDS", 5);
const JOBS = num("JOBS", 20_000);
const CONCURRENCY = num("CONCURRENCY", 50);
const JOBS_C1 = num("JOBS_C1", Math.ceil(JOBS / 2));
const LAT_JOBS = num("LAT_JOBS", 3000);
const LAT_RATE = num("LAT_RATE", 2000);
const LAT_RATE_C1 = num("LAT_RATE_C1", LAT_RATE);
const PREFETCH: number | "auto" = (Deno.env.get("PREFETCH") ?? "auto") === "auto"
  ? "auto"
  : num("PREFETCH", 0);
const latRate = (concurrency: number) => (concurrency === 1 ? LAT_RATE_C1 : LAT_RATE);

configureLogging({ level: "error" });

if (Deno.args.includes("--cluster") || Deno.env.get("REDIS_CLUSTER_NODES")) {
  await benchQueueTopologies({
    redisUrl: REDIS_URL,
    rounds: num("ROUNDS", 3),
    jobs: num("JOBS", 5000),
    concurrency: CONCURRENCY,
    latJobs: num("LAT_JOBS", 1000),
    latRate: num("LAT_RATE", 1000),
    events: num("EVENTS", 2000),
  });
  Deno.exit(0);
}

const noop = defineTask("bench.noop", z.object({ t: z.number() }), { maxAttempts: 1 });
const now = () => performance.now();

interface Result {
  jobsPerS: number;
  p50: number;
  p99: number;
}

/** Calls `enqueue` `count` times at `rate` per second. */
async function paced(
  count: number,
  rate: number,
  enqueue: () => Promise<unknown>,
): Promise<void> {
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const start = now();
  const pending: Promise<unknown>[] = [];
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor(((now() - start) / 1000) * rate) + perTick);
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

async function benchOurs(
  admin: Redis,
  jobs: number,
  latJobs: number,
  concurrency: number,
): Promise<Result> {
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
      concurrency,
      prefetch: PREFETCH,
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
    ], { redisUrl: REDIS_URL, prefix, concurrency, prefetch: PREFETCH });
    const run2 = w2.run();
    await w2.waitUntilReady();
    await paced(latJobs, latRate(concurrency), () => q.enqueue(noop, { t: now() }));
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

async function benchBull(
  admin: Redis,
  jobs: number,
  latJobs: number,
  concurrency: number,
): Promise<Result> {
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
      concurrency,
    });
    w1.on("completed", () => done++);
    await waitCount(() => done, jobs);
    const elapsed = now() - t0;
    await w1.close();

    const lat: number[] = [];
    const w2 = new BullWorker(name, (job) => {
      lat.push(now() - (job.data as { t: number }).t);
      return Promise.resolve();
    }, { connection, prefix, concurrency });
    await w2.waitUntilReady();
    await paced(latJobs, latRate(concurrency), () => q.add(name, { t: now() }));
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

const admin = createRedis(REDIS_URL, { name: "bench:admin", autoPipelining: false });
const levels = [...new Set([CONCURRENCY, 1])];
const ours = new Map<number, Result[]>(levels.map((c) => [c, []]));
const bull = new Map<number, Result[]>(levels.map((c) => [c, []]));
const fmt = (r: Result) =>
  `${Math.round(r.jobsPerS)} jobs/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`;
console.log(
  `bench:queue rounds=${ROUNDS} jobs=${JOBS} (${JOBS_C1} at concurrency 1) concurrency=${
    levels.join(",")
  } latency: ${LAT_JOBS} jobs at ${LAT_RATE}/s (${LAT_RATE_C1}/s at concurrency 1) prefetch=${PREFETCH}`,
);
try {
  for (const c of levels) {
    const jobs = c === 1 ? JOBS_C1 : JOBS;
    // A short unreported round each, so that neither system is measured cold (JIT, scripts).
    await benchOurs(admin, Math.ceil(jobs / 10), Math.ceil(LAT_JOBS / 5), c);
    await benchBull(admin, Math.ceil(jobs / 10), Math.ceil(LAT_JOBS / 5), c);
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate the order so neither system always runs on a warmer Redis.
      const first = round % 2 === 1 ? "ours" : "bullmq";
      for (const which of first === "ours" ? ["ours", "bullmq"] : ["bullmq", "ours"]) {
        const r = which === "ours"
          ? await benchOurs(admin, jobs, LAT_JOBS, c)
          : await benchBull(admin, jobs, LAT_JOBS, c);
        (which === "ours" ? ours : bull).get(c)!.push(r);
        console.log(`c=${c} round ${round} ${which.padEnd(6)} ${fmt(r)}`);
      }
    }
  }
} finally {
  admin.disconnect();
}

const med = (rs: Result[], k: keyof Result) => median(rs.map((r) => r[k]));
const o = ours.get(CONCURRENCY)!;
const b = bull.get(CONCURRENCY)!;
const o1 = ours.get(1)!;
const b1 = bull.get(1)!;
const summary = {
  bench: "queue",
  ours_jobs_per_s: Math.round(med(o, "jobsPerS")),
  bullmq_jobs_per_s: Math.round(med(b, "jobsPerS")),
  ratio: Number((med(o, "jobsPerS") / med(b, "jobsPerS")).toFixed(2)),
  ours_p50_ms: Number(med(o, "p50").toFixed(3)),
  bullmq_p50_ms: Number(med(b, "p50").toFixed(3)),
  ours_p99_ms: Number(med(o, "p99").toFixed(3)),
  bullmq_p99_ms: Number(med(b, "p99").toFixed(3)),
  concurrency: CONCURRENCY,
  jobs: JOBS,
  rounds: ROUNDS,
  ours_jobs_per_s_c1: Math.round(med(o1, "jobsPerS")),
  bullmq_jobs_per_s_c1: Math.round(med(b1, "jobsPerS")),
  ratio_c1: Number((med(o1, "jobsPerS") / med(b1, "jobsPerS")).toFixed(2)),
  ours_p50_ms_c1: Number(med(o1, "p50").toFixed(3)),
  bullmq_p50_ms_c1: Number(med(b1, "p50").toFixed(3)),
  ours_p99_ms_c1: Number(med(o1, "p99").toFixed(3)),
  bullmq_p99_ms_c1: Number(med(b1, "p99").toFixed(3)),
  jobs_c1: JOBS_C1,
  lat_rate_c1: LAT_RATE_C1,
  prefetch: PREFETCH,
};
console.log(JSON.stringify(summary));
Deno.exit(0);
