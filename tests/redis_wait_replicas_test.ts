import { operationRowFixture } from "../shared/testing/events.ts";
/**
 * REDIS_WAIT_REPLICAS: an enqueue and a terminal event issue `WAIT` on the master that holds the
 * key written. On one node (no replicas) a wait for one replica gets none and is counted as a
 * shortfall; on the local cluster (`deno task test:cluster`: one replica per master) it returns
 * at least one.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { Redis } from "ioredis";
import { EventPublisher, getLogger, KeySpace, nodeForKey, ReplicaWait } from "@semantik/shared";
import { createTestRedis, publishNext, testRedisIsCluster } from "@semantik/shared/testing";
import { Queue } from "../shared/queue/queue.ts";
import { defineTask } from "../shared/queue/task.ts";

const log = getLogger("wait-test");
const echo = defineTask("test.wait_echo", z.object({ n: z.number().int() }));

/** How many WAIT commands the node has run (INFO commandstats). */
async function waitCalls(node: Redis): Promise<number> {
  const info = await node.info("commandstats");
  return Number(/cmdstat_wait:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

Deno.test("REDIS_WAIT_REPLICAS: an enqueue and a terminal event (not a progress event) issue WAIT on the key's master", async () => {
  const r = await createTestRedis();
  try {
    const cluster = testRedisIsCluster();
    const acks: number[] = [];
    const shortfalls: number[] = [];
    const wait = new ReplicaWait(r.redis, {
      replicas: 1,
      // One node has no replica: keep its unanswered wait short.
      timeoutMs: cluster ? 5000 : 50,
      log,
      onShortfall: ({ acked }) => shortfalls.push(acked),
    });
    const after = wait.after.bind(wait);
    wait.after = async (key, what) => {
      const n = await after(key, what);
      acks.push(n ?? -1);
      return n;
    };
    const queue = new Queue(r.redis, "default", { prefix: r.prefix, replicaWait: wait });
    const queueNode = await nodeForKey(r.redis, queue.keys.stream);
    const before = await waitCalls(queueNode);
    const res = await queue.enqueue(echo, { n: 1 });
    assert.equal(res.created, true);
    assert.equal(await waitCalls(queueNode), before + 1, "the enqueue waited on its master");
    // A duplicate wrote nothing: nothing to wait for.
    await queue.enqueue(echo, { n: 1 }, { jobId: res.jobId });
    assert.equal(acks.length, 1);

    const pub = new EventPublisher(r.redis, new KeySpace(r.prefix), { replicaWait: wait });
    const op = operationRowFixture();
    const opNode = await nodeForKey(r.redis, pub.keys.stream(op.id));
    const beforeEvents = await waitCalls(opNode);
    await publishNext(pub, op, { progress: 50 });
    assert.equal(acks.length, 1, "a progress event does not wait");
    await publishNext(pub, op, { status: "completed", progress: 100 });
    assert.equal(acks.length, 2, "the terminal event waits");
    assert.equal(
      await waitCalls(opNode),
      beforeEvents + 1,
      "the terminal event waited on its master",
    );

    if (cluster) {
      assert.ok(acks.every((n) => n >= 1), `acknowledged by ${acks.join(", ")} replicas`);
      assert.deepEqual(shortfalls, []);
      assert.equal(wait.shortfalls, 0);
    } else {
      assert.deepEqual(acks, [0, 0], "one node has no replica");
      assert.deepEqual(shortfalls, [0, 0]);
      assert.equal(wait.shortfalls, 2);
    }
  } finally {
    await r.cleanup();
  }
});

Deno.test("REDIS_WAIT_REPLICAS=0 issues no WAIT; bad options are refused", async () => {
  const r = await createTestRedis();
  try {
    const wait = new ReplicaWait(r.redis, { replicas: 0 });
    const queue = new Queue(r.redis, "default", { prefix: r.prefix, replicaWait: wait });
    const node = await nodeForKey(r.redis, queue.keys.stream);
    const before = await waitCalls(node);
    await queue.enqueue(echo, { n: 2 });
    assert.equal(await waitCalls(node), before);
    assert.equal(await wait.after(queue.keys.stream, "x"), undefined);
    assert.throws(() => new ReplicaWait(r.redis, { replicas: -1 }), RangeError);
    assert.throws(() => new ReplicaWait(r.redis, { replicas: 1, timeoutMs: 0 }), RangeError);
  } finally {
    await r.cleanup();
  }
});
