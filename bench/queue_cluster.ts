/**
 * `deno task bench:queue --cluster` (or with `REDIS_CLUSTER_NODES` set): this queue on one Redis
 * node against a Redis Cluster, and the cost of `REDIS_WAIT_REPLICAS=1` there, in one run.
 *
 * `--cluster` starts a local cluster (three masters, one replica each, on free ports:
 * `shared/testing/redis_cluster.ts`, as `deno task test:cluster` does) and stops it after;
 * `REDIS_CLUSTER_NODES` uses one that runs. The one node is `REDIS_URL`. BullMQ is not run here
 * (the plain `bench:queue` compares with it on one node).
 *
 * Per topology (one node; cluster; cluster with `WAIT 1` after each enqueue and terminal event,
 * as `REDIS_WAIT_REPLICAS=1` does), ROUNDS rounds in rotating order, medians reported:
 * - enqueue/s: JOBS jobs enqueued 1,000 at a time (the call returns after its `WAIT`);
 * - drain jobs/s: those jobs drained by one worker at CONCURRENCY (completion does not `WAIT`);
 * - enqueue-to-start p50/p99: LAT_JOBS jobs at LAT_RATE/s into a running worker;
 * - terminal events/s: EVENTS operations' terminal events published 100 at a time through the
 *   real `EventPublisher` (with the `WAIT` where configured).
 * The last line is one JSON object.
 */
import { z } from "zod";
import type { Redis } from "ioredis";
import { Queue } from "../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { createRedis, KeySpace } from "../shared/redis/redis.ts";
import { ReplicaWait } from "../shared/redis/replica_wait.ts";
import { type RedisTarget, redisTargetFromEnv } from "../shared/redis/redis_target.ts";
import { EventPublisher } from "../shared/events/event_publisher.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";
import { operationRowFixture, publishNext } from "../shared/testing/events.ts";
import { startRedisCluster } from "../shared/testing/redis_cluster.ts";
import { median, percentile } from "./_common.ts";

const noop = defineTask("bench.noop", z.object({ t: z.number() }), { maxAttempts: 1 });
const now = () => performance.now();

/** Settings of {@link benchQueueTopologies}. */
export interface TopologyBenchOptions {
  redisUrl: string;
  rounds: number;
  jobs: number;
  concurrency: number;
  latJobs: number;
  latRate: number;
  events: number;
}

interface Figures {
  enqueuePerS: number;
  drainPerS: number;
  p50: number;
  p99: number;
  terminalPerS: number;
}

type Topology = "single" | "cluster" | "cluster_wait1";

function waitCount(get: () => number, target: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (get() >= target ? resolve() : setTimeout(check, 1));
    check();
  });
}

async function paced(count: number, rate: number, send: () => Promise<unknown>): Promise<void> {
  const start = now();
  const pending: Promise<unknown>[] = [];
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor(((now() - start) / 1000) * rate) + 1);
    while (sent < due) {
      pending.push(send());
      sent++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
}

async function oneRound(
  target: RedisTarget | string,
  admin: Redis,
  wait: boolean,
  o: TopologyBenchOptions,
): Promise<Figures> {
  const prefix = `benchq:${crypto.randomUUID().slice(0, 8)}:`;
  const replicaWait = wait
    ? new ReplicaWait(admin, { replicas: 1, timeoutMs: 1000, onShortfall: () => {} })
    : undefined;
  const q = new Queue(admin, "default", { prefix, replicaWait });
  try {
    const e0 = now();
    for (let i = 0; i < o.jobs; i += 1000) {
      const n = Math.min(1000, o.jobs - i);
      await Promise.all(Array.from({ length: n }, () => q.enqueue(noop, { t: 0 })));
    }
    const enqueueMs = now() - e0;
    let done = 0;
    const w1 = new QueueWorker("default", [taskHandler(noop, () => {})], {
      redisUrl: target,
      prefix,
      concurrency: o.concurrency,
    });
    w1.events.on("completed", () => done++);
    const t0 = now();
    const run1 = w1.run();
    await waitCount(() => done, o.jobs);
    const drainMs = now() - t0;
    await w1.close();
    await run1;

    const lat: number[] = [];
    const w2 = new QueueWorker("default", [
      taskHandler(noop, (p) => void lat.push(now() - p.t)),
    ], { redisUrl: target, prefix, concurrency: o.concurrency });
    const run2 = w2.run();
    await w2.waitUntilReady();
    await paced(o.latJobs, o.latRate, () => q.enqueue(noop, { t: now() }));
    await waitCount(() => lat.length, o.latJobs);
    await w2.close();
    await run2;
    lat.sort((a, b) => a - b);

    const events = new EventPublisher(admin, new KeySpace(prefix), { replicaWait });
    const p0 = now();
    for (let i = 0; i < o.events; i += 100) {
      const n = Math.min(100, o.events - i);
      await Promise.all(
        Array.from(
          { length: n },
          () => publishNext(events, operationRowFixture({ status: "completed", progress: 100 })),
        ),
      );
    }
    const terminalMs = now() - p0;
    return {
      enqueuePerS: o.jobs / (enqueueMs / 1000),
      drainPerS: o.jobs / (drainMs / 1000),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      terminalPerS: o.events / (terminalMs / 1000),
    };
  } finally {
    await deleteByPrefix(admin, prefix);
  }
}

/** Runs the one-node / cluster / cluster-with-WAIT comparison and prints its figures. */
export async function benchQueueTopologies(o: TopologyBenchOptions): Promise<void> {
  const fromEnv = Deno.env.get("REDIS_CLUSTER_NODES") ? redisTargetFromEnv() : undefined;
  const local = fromEnv ? undefined : await startRedisCluster();
  const clusterTarget = fromEnv ?? local!.target;
  const single = createRedis(o.redisUrl, { name: "bench:admin", autoPipelining: false });
  const cluster = createRedis(clusterTarget, { name: "bench:admin" });
  const results = new Map<Topology, Figures[]>([
    ["single", []],
    ["cluster", []],
    ["cluster_wait1", []],
  ]);
  const order: Topology[] = ["single", "cluster", "cluster_wait1"];
  console.log(
    `bench:queue topologies rounds=${o.rounds} jobs=${o.jobs} concurrency=${o.concurrency} ` +
      `latency: ${o.latJobs} jobs at ${o.latRate}/s, terminal events: ${o.events}; cluster: ${
        local ? `local (${local.nodesSetting})` : "REDIS_CLUSTER_NODES"
      }`,
  );
  const fmt = (f: Figures) =>
    `enqueue ${Math.round(f.enqueuePerS)}/s, drain ${Math.round(f.drainPerS)} jobs/s, ` +
    `p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms, terminal events ${
      Math.round(f.terminalPerS)
    }/s`;
  try {
    // An unreported warm-up of each (JIT, scripts loaded on every master).
    const warm = { ...o, jobs: Math.ceil(o.jobs / 10), latJobs: 100, events: 100 };
    await oneRound(o.redisUrl, single, false, warm);
    await oneRound(clusterTarget, cluster, false, warm);
    for (let round = 0; round < o.rounds; round++) {
      const rotated = [...order.slice(round % 3), ...order.slice(0, round % 3)];
      for (const t of rotated) {
        const f = t === "single"
          ? await oneRound(o.redisUrl, single, false, o)
          : await oneRound(clusterTarget, cluster, t === "cluster_wait1", o);
        results.get(t)!.push(f);
        console.log(`round ${round + 1} ${t.padEnd(13)} ${fmt(f)}`);
      }
    }
  } finally {
    single.disconnect();
    cluster.disconnect();
    await local?.stop();
  }
  const med = (t: Topology, k: keyof Figures) => median(results.get(t)!.map((f) => f[k]));
  const r2 = (x: number) => Number(x.toFixed(2));
  const summary: Record<string, unknown> = {
    bench: "queue_topologies",
    rounds: o.rounds,
    jobs: o.jobs,
    concurrency: o.concurrency,
    load_average: Deno.loadavg()[0],
  };
  for (const t of order) {
    summary[`${t}_enqueue_per_s`] = Math.round(med(t, "enqueuePerS"));
    summary[`${t}_drain_per_s`] = Math.round(med(t, "drainPerS"));
    summary[`${t}_p50_ms`] = r2(med(t, "p50"));
    summary[`${t}_p99_ms`] = r2(med(t, "p99"));
    summary[`${t}_terminal_events_per_s`] = Math.round(med(t, "terminalPerS"));
  }
  summary.cluster_vs_single_drain = r2(med("cluster", "drainPerS") / med("single", "drainPerS"));
  summary.cluster_vs_single_enqueue = r2(
    med("cluster", "enqueuePerS") / med("single", "enqueuePerS"),
  );
  summary.wait1_vs_cluster_enqueue = r2(
    med("cluster_wait1", "enqueuePerS") / med("cluster", "enqueuePerS"),
  );
  summary.wait1_vs_cluster_terminal_events = r2(
    med("cluster_wait1", "terminalPerS") / med("cluster", "terminalPerS"),
  );
  console.log(JSON.stringify(summary));
}
