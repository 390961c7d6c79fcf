/**
 * The task layer across real worker processes: an operation whose worker is SIGKILLed mid-way is
 * finished by another worker, and its events keep ids 1..n with no gap and no repeat.
 */
import assert from "node:assert/strict";
import { createTestDb, createTestRedis, OPERATION_MS, waitFor } from "@semantik/shared/testing";
import {
  EventPublisher,
  insertOperation,
  KeySpace,
  type OperationRow,
  processSourceTask,
  QueueClient,
  readOperationEvents,
} from "@semantik/shared";
import { spawnDeno } from "./helpers/process.ts";

const WORKER = new URL("./procs/op_task_worker.ts", import.meta.url).pathname;

Deno.test("events keep ids 1..n without gap or repeat across a worker SIGKILL", async () => {
  const t = await createTestDb("postgres");
  const r = await createTestRedis();
  const env = {
    DATABASE_URL: t.url!,
    TEST_REDIS_URL: r.url,
    TEST_PREFIX: r.prefix,
    LEASE_MS: "1000",
    STEPS: "30",
    STEP_MS: "40",
  };
  const first = spawnDeno(WORKER, { env });
  let second: ReturnType<typeof spawnDeno> | undefined;
  try {
    const user = crypto.randomUUID();
    await t.db.query("insert into users (id, username, password_hash) values ($1, 'u', 'x')", [
      user,
    ]);
    const op = await insertOperation(t.db, {
      collectionId: crypto.randomUUID(),
      ownerId: user,
      type: "index",
    });
    const queues = new QueueClient(r.redis, { prefix: r.prefix });
    const events = new EventPublisher(r.redis, new KeySpace(r.prefix));
    await first.waitForLine(/^ready$/);
    await queues.enqueue(processSourceTask, { operation_id: op.id }, { jobId: op.id });
    const row = async () =>
      (await t.db.query<OperationRow>("select * from operations where id = $1", [op.id]))[0]!;
    await waitFor("progress from the first worker", async () => (await row()).progress >= 20);
    first.child.kill("SIGKILL");
    await first.status;
    second = spawnDeno(WORKER, { env });
    await waitFor(
      "completion by the second worker",
      async () => (await row()).status === "completed",
      {
        timeoutMs: OPERATION_MS,
      },
    );
    // The row commits before its terminal event is published: wait for the event itself.
    const read = () => readOperationEvents(r.redis, { keys: events.keys, operationId: op.id });
    const { events: all, complete } = await waitFor(
      "the completion event in the operation's stream",
      async () => {
        const got = await read();
        return got.events.at(-1)?.type === "OPERATION_COMPLETED" ? got : undefined;
      },
      { seen: async () => (await read()).events.at(-1) },
    );
    assert.equal(complete, true);
    const ids = all.map((e) => e.event_id);
    assert.deepEqual(ids, ids.map((_, i) => i + 1), `ids: ${ids.join(",")}`);
    assert.equal(all.at(-1)!.type, "OPERATION_COMPLETED");
    // Both workers wrote events: the first until it died, the second to the end.
    const writers = new Set(all.map((e) => /by (\d+)$/.exec(e.message)?.[1]).filter(Boolean));
    assert.equal(writers.size, 2, [...writers].join());
    // Every published id is at most the reservation count (ids are never ahead of the writes that
    // reserved them); the count can be higher than the ids: a write the SIGKILL caught between its
    // commit and its publish reserved a number that no event carries (no gap: ids follow the
    // counter, docs/RELIABILITY.md "The event path").
    const final = await row();
    assert.ok(
      final.event_seq >= ids.length,
      `event_seq ${final.event_seq} below the ${ids.length} ids published`,
    );
  } finally {
    await first.stop("SIGKILL");
    await second?.stop("SIGKILL");
    await r.cleanup();
    await t.cleanup();
  }
});
