/**
 * Redis behind Sentinel (one master, one replica, three sentinels): the master is killed with
 * SIGKILL while two queue workers are mid-way through a batch of jobs. The sentinels promote the
 * replica; the workers and the producer follow it (REDIS_SENTINELS), and every job completes,
 * including jobs enqueued after the failover. Run by `deno task test:cluster`.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createRedis } from "../../shared/redis/redis.ts";
import { redisTargetEnv, redisTargetFromEnv } from "../../shared/redis/redis_target.ts";
import { startRedisSentinel } from "../../shared/testing/redis_cluster.ts";
import { WAIT_MS, waitFor } from "../../shared/testing/wait.ts";
import { Queue } from "../../shared/queue/queue.ts";
import { QueueWorker, taskHandler } from "../../shared/queue/queue_worker.ts";
import { defineTask } from "../../shared/queue/task.ts";

const work = defineTask("failover.work", z.object({ n: z.number().int() }), {
  maxAttempts: 10,
  backoff: { delayMs: 100, jitter: 0 },
});

const BEFORE = 60;
const AFTER = 20;

Deno.test("Sentinel: the master is killed mid-queue-work; the replica takes over and every job completes", async () => {
  const sentinel = await startRedisSentinel({ downAfterMs: 1000 });
  const prefix = `test:failover:${crypto.randomUUID().slice(0, 8)}:`;
  // The workers read their settings as a process would: REDIS_SENTINELS + REDIS_SENTINEL_NAME.
  const target = redisTargetFromEnv(redisTargetEnv(sentinel.target));
  const producer = createRedis(target, { name: "test:producer", maxRetriesPerRequest: null });
  producer.on("error", () => {});
  const workers: QueueWorker[] = [];
  const runs: Promise<void>[] = [];
  const completed = new Set<number>();
  const runsOf = new Map<number, number>();
  try {
    const q = new Queue(producer, "default", { prefix });
    await q.ensureGroup();
    for (let n = 0; n < BEFORE; n++) await q.enqueue(work, { n }, { jobId: `job-${n}` });
    // Replication is asynchronous: wait until the replica holds every enqueued job, so that
    // what this test checks is the failover, not a lost write (docs/SCALING.md).
    assert.equal(Number(await producer.call("WAIT", ["1", "10000"])), 1, "replica acknowledged");
    const oldMaster = await sentinel.masterPort();
    for (const consumer of ["w1", "w2"]) {
      const w = new QueueWorker("default", [
        taskHandler(work, async (p) => {
          runsOf.set(p.n, (runsOf.get(p.n) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 100));
          completed.add(p.n);
        }),
      ], {
        redisUrl: target,
        prefix,
        consumer,
        concurrency: 2,
        leaseMs: 3000,
        blockMs: 500,
      });
      workers.push(w);
      runs.push(w.run());
      await w.waitUntilReady();
    }
    await waitFor("a quarter of the jobs to complete before the kill", () => completed.size >= 15);
    const atKill = completed.size;
    await sentinel.kill(oldMaster);
    const newMaster = await waitFor(
      "the sentinels to promote the replica (down-after 1 s)",
      async () => {
        const port = await sentinel.masterPort().catch(() => undefined);
        return port !== undefined && port !== oldMaster ? port : undefined;
      },
      // Detection takes the 1 s timeout, then an election and the promotion: seconds.
      { timeoutMs: 1000 + 2 * WAIT_MS },
    );
    assert.ok(atKill < BEFORE, `the kill came mid-work (${atKill} of ${BEFORE} done)`);
    // The producer follows the new master too.
    for (let n = BEFORE; n < BEFORE + AFTER; n++) {
      await q.enqueue(work, { n }, { jobId: `job-${n}` });
    }
    // After the failover: jobs that were running on the dead master come back when their lease
    // (3 s) runs out, clients find the new master within a slot/topology refresh (5 s), and the 80
    // jobs of 100 ms take 2 s on 4 slots; plus the usual margin.
    await waitFor(
      `all ${BEFORE + AFTER} jobs to complete after the failover to port ${newMaster}`,
      () => completed.size === BEFORE + AFTER,
      { timeoutMs: 3000 + 5000 + 2000 + WAIT_MS, seen: () => `${completed.size} completed` },
    );
    const missing = [...Array(BEFORE + AFTER).keys()].filter((n) => !completed.has(n));
    assert.deepEqual(missing, []);
    await waitFor("the queue to drain on the new master", async () => {
      const d = await q.depth();
      return d.waiting === 0 && d.active === 0 && d.delayed === 0 ? d : undefined;
    });
    assert.equal((await q.depth()).dead, 0, "no job died in the failover");
    const role = await producer.call("ROLE") as [string, ...unknown[]];
    assert.equal(role[0], "master");
  } finally {
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(runs);
    producer.disconnect();
    await sentinel.stop();
  }
});
