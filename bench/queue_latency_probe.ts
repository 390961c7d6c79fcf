/**
 * `deno run -A bench/queue_latency_probe.ts`: where a job's enqueue-to-start time goes in our
 * queue at concurrency 1. Jobs are enqueued at RATE/s (paced like `bench:queue`); the worker's
 * two connections are wrapped to note when each job's entry first arrives in a reply, and by
 * which command (`blk:xreadgroup`: the blocking read; `cmd:evalsha`: the read of a completing
 * `complete_jobs` call). Prints the p50 and p99 jobs with their parts (the producer's own enqueue
 * round trip, enqueue call to arrival at the worker, arrival to handler start) and the averages
 * over the slowest 2%, and the worker's commands per job by connection. Not a comparison: `bench:queue` is.
 *
 * Settings (environment): REDIS_URL (redis://127.0.0.1:6379), RATE (500), N (3000), PREFETCH (32).
 */
import { z } from "zod";
import type { Redis } from "ioredis";
import { Queue } from "../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../shared/queue/queue_worker.ts";
import { defineTask } from "../shared/queue/task.ts";
import { configureLogging } from "../shared/log/logger.ts";
import { deleteByPrefix } from "../shared/testing/redis.ts";
import { createRedis } from "../shared/redis/redis.ts";
configureLogging({ level: "error" });
const URL_ = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const RATE = Number(Deno.env.get("RATE") ?? 500), N = Number(Deno.env.get("N") ?? 3000);
const PREFETCH = Number(Deno.env.get("PREFETCH") ?? 32);
const noop = defineTask("bench.noop", z.object({ t: z.number(), i: z.number() }), {
  maxAttempts: 1,
});
const now = () => performance.now();
/** Commands the worker sent, by connection and name. */
const commands = new Map<string, number>();
const arrive = new Map<number, { at: number; via: string }>();
function wrap(r: Redis, via: string): Redis {
  const send = r.sendCommand.bind(r) as (...a: unknown[]) => unknown;
  (r as unknown as { sendCommand: (...a: unknown[]) => unknown }).sendCommand = (...a) => {
    const cmd = a[0] as { name: string; promise: Promise<unknown> };
    const name = cmd.name.toLowerCase();
    const key = `${via}:${name}`;
    commands.set(key, (commands.get(key) ?? 0) + 1);
    if (name === "xreadgroup" || name === "evalsha") {
      cmd.promise.then((rep) => {
        const t = now();
        const s = JSON.stringify(rep ?? null);
        for (const m of s.matchAll(/\\"i\\":(\d+)/g)) {
          const i = Number(m[1]);
          if (!arrive.has(i)) arrive.set(i, { at: t, via: `${via}:${name}` });
        }
      }, () => {});
    }
    return send(...a);
  };
  return r;
}
const admin = createRedis(URL_, { name: "probe" });
const prefix = `probe:${crypto.randomUUID().slice(0, 8)}:`;
const q = new Queue(admin, "default", { prefix });
const enq = new Map<number, [number, number]>();
const start = new Map<number, number>();
const w = new QueueWorker("default", [taskHandler(noop, (p) => void start.set(p.i, now()))], {
  redis: wrap(createRedis(URL_, { name: "cmd" }), "cmd"),
  blockingRedis: () => wrap(createRedis(URL_, { name: "blk", blocking: true }), "blk"),
  prefix,
  concurrency: 1,
  prefetch: PREFETCH,
});
const run = w.run();
await w.waitUntilReady();
const t0 = now();
const pend: Promise<unknown>[] = [];
for (let i = 0; i < N;) {
  const due = Math.min(
    N,
    Math.floor(((now() - t0) / 1000) * RATE) + Math.max(1, Math.round(RATE * 5 / 1000)),
  );
  while (i < due) {
    const j = i++;
    const tc = now();
    pend.push(q.enqueue(noop, { t: tc, i: j }).then(() => enq.set(j, [tc, now()])));
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(pend);
while (start.size < N) await new Promise((r) => setTimeout(r, 5));
await w.close();
await run;
await deleteByPrefix(admin, prefix);
admin.disconnect();
const rows = [...Array(N).keys()].map((i) => {
  const [tc, te] = enq.get(i)!;
  const a = arrive.get(i);
  const s = start.get(i)!;
  return {
    i,
    total: s - tc,
    enqRt: te - tc,
    toRead: (a?.at ?? NaN) - tc,
    readToStart: s - (a?.at ?? NaN),
    via: a?.via ?? "?",
  };
});
rows.sort((x, y) => x.total - y.total);
const pct = (p: number) => rows[Math.ceil(p / 100 * rows.length) - 1]!;
console.log("p50", JSON.stringify(pct(50)), "\np99", JSON.stringify(pct(99)));
const tail = rows.slice(Math.floor(rows.length * 0.98));
const avg = (k: "enqRt" | "toRead" | "readToStart") =>
  (tail.reduce((s, r) => s + r[k], 0) / tail.length).toFixed(2);
const vias = new Map<string, number>();
for (const r of tail) vias.set(r.via, (vias.get(r.via) ?? 0) + 1);
console.log(
  "top2% avg enqRt",
  avg("enqRt"),
  "toRead",
  avg("toRead"),
  "readToStart",
  avg("readToStart"),
  JSON.stringify([...vias]),
);
const allv = new Map<string, number>();
for (const r of rows) allv.set(r.via, (allv.get(r.via) ?? 0) + 1);
console.log("all vias", JSON.stringify([...allv]));
console.log(
  "worker commands per job",
  JSON.stringify(
    Object.fromEntries([...commands].map(([k, v]) => [k, Number((v / N).toFixed(2))])),
  ),
);
Deno.exit(0);
