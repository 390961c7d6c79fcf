/**
 * Redis Cluster failover under queue work: the master that serves the queue's slot is killed
 * with SIGKILL while two workers are mid-way through a batch of jobs. Its replica takes the slot
 * over; the cluster clients follow (MOVED, slot refresh, retries of commands caught by the kill),
 * the workers' read loops and lease renewals retry, and every job completes, including jobs
 * enqueued after the failover. Starts a cluster of its own (it kills a node). Run by
 * `deno task test:cluster`.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createRedis, nodeAddress, nodeForKey } from "../../shared/redis/redis.ts";
import { redisTargetEnv, redisTargetFromEnv } from "../../shared/redis/redis_target.ts";
import { startRedisCluster } from "../../shared/testing/redis_cluster.ts";
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

Deno.test("Redis Cluster: the queue's master is killed mid-work; its replica takes over and every job completes", async () => {
  const cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
  const prefix = `test:cfailover:${crypto.randomUUID().slice(0, 8)}:`;
  // As a process would read it: REDIS_CLUSTER_NODES.
  const target = redisTargetFromEnv(redisTargetEnv(cluster.target));
  const producer = createRedis(target, { name: "test:producer", maxRetriesPerRequest: null });
  producer.on("error", () => {});
  const workers: QueueWorker[] = [];
  const runs: Promise<void>[] = [];
  const completed = new Set<number>();
  try {
    const q = new Queue(producer, "default", { prefix });
    await q.ensureGroup();
    for (let n = 0; n < BEFORE; n++) await q.enqueue(work, { n }, { jobId: `job-${n}` });
    // WAIT on the connection that wrote the jobs: the replica holds them before the kill.
    const writer = await nodeForKey(producer, q.keys.stream);
    assert.equal(Number(await writer.call("WAIT", ["1", "10000"])), 1, "replica acknowledged");
    const victim = Number(nodeAddress(writer).split(":").pop());
    assert.equal(
      victim,
      await cluster.masterOfSlot(
        Number(await producer.call("CLUSTER", ["KEYSLOT", q.keys.stream])),
      ),
    );
    for (const consumer of ["w1", "w2"]) {
      const w = new QueueWorker("default", [
        taskHandler(work, async (p) => {
          await new Promise((r) => setTimeout(r, 100));
          completed.add(p.n);
        }),
      ], { redisUrl: target, prefix, consumer, concurrency: 2, leaseMs: 3000, blockMs: 500 });
      workers.push(w);
      runs.push(w.run());
      await w.waitUntilReady();
    }
    await waitFor("a quarter of the jobs to complete before the kill", () => completed.size >= 15);
    const atKill = completed.size;
    await cluster.kill(victim);
    const slot = Number(await producer.call("CLUSTER", ["KEYSLOT", q.keys.stream]));
    const promoted = await waitFor(
      "the replica to take the queue's slot over (node timeout 1 s)",
      async () => {
        const port = await cluster.masterOfSlot(slot).catch(() => undefined);
        return port !== undefined && port !== victim ? port : undefined;
      },
      // Detection takes the 1 s timeout, then an election and the promotion: seconds.
      { timeoutMs: 1000 + 2 * WAIT_MS },
    );
    assert.ok(atKill < BEFORE, `the kill came mid-work (${atKill} of ${BEFORE} done)`);
    for (let n = BEFORE; n < BEFORE + AFTER; n++) {
      await q.enqueue(work, { n }, { jobId: `job-${n}` });
    }
    // After the failover: jobs that were running on the dead master come back when their lease
    // (3 s) runs out, clients find the new master within a slot/topology refresh (5 s), and the 80
    // jobs of 100 ms take 2 s on 4 slots; plus the usual margin.
    await waitFor(
      `all ${BEFORE + AFTER} jobs to complete after the failover to port ${promoted}`,
      () => completed.size === BEFORE + AFTER,
      { timeoutMs: 3000 + 5000 + 2000 + WAIT_MS, seen: () => `${completed.size} completed` },
    );
    await waitFor("the queue to drain on the new master", async () => {
      const d = await q.depth();
      return d.waiting === 0 && d.active === 0 && d.delayed === 0 ? d : undefined;
    });
    assert.equal((await q.depth()).dead, 0, "no job died in the failover");
  } finally {
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(runs);
    producer.disconnect();
    await cluster.stop();
  }
});
