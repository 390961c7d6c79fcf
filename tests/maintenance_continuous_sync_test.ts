/**
 * Continuous sync end to end, with no API call after the collection is made: the scheduler's
 * firing enqueues `sync.check_continuous_sync`, a worker runs it and starts a `sync` operation,
 * a worker runs that, and the added and modified files are in the collection.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { OperationRow } from "@semantik/shared";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { type CronRegistrar, startScheduler } from "@semantik/scheduler";
import { createApiTestEnv } from "./helpers/api_env.ts";

/** Holds the cron handlers; the test fires them (what Deno.cron does at each tick). */
const noCron: CronRegistrar = (_name, _schedule, options) =>
  new Promise((resolve) => options.signal?.addEventListener("abort", () => resolve()));

const FAST_QUEUE = { blockMs: 200, delayedPollMs: 100 };

const text = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${topic} sentence number ${i} about ${topic}.`).join(" ");

Deno.test("a continuous collection picks up an added and a modified file with no API call", async () => {
  const env = await createApiTestEnv();
  try {
    const dir = join(env.docs, "notes");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "a.txt"), text("apples", 20));
    await Deno.writeTextFile(join(dir, "b.txt"), text("bicycles", 20));
    await Deno.writeTextFile(join(dir, "c.txt"), text("castles", 20));
    await startWorker(env.rt, { overrides: { queueOptions: FAST_QUEUE } });
    // The scheduler's clock: moved on to the next tick below instead of waiting for it.
    let skewMs = 0;
    const scheduler = startScheduler(env.rt, { cron: noCron, clock: () => Date.now() + skewMs });

    const { token } = await env.user();
    const created = await env.call("POST", "/api/v2/collections", {
      token,
      body: {
        name: "notes",
        sync_mode: "continuous",
        sync_interval_minutes: 10,
        source: { type: "directory", path: dir },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const collectionId: string = created.body.collection.id;
    const db = env.rt.db;
    const ops = () =>
      db.query<OperationRow>(
        "select * from operations where collection_id = $1 order by created_at",
        [collectionId],
      );
    const first = await waitFor("the first index", async () => {
      const [op] = await ops();
      return op && ["completed", "failed", "cancelled"].includes(op.status) ? op : undefined;
    }, { timeoutMs: OPERATION_MS });
    assert.equal(first.status, "completed", first.error_message ?? "");

    // Not due yet: a check starts nothing.
    const early = await scheduler.fire("check_continuous_sync");
    await waitFor(
      "the early check to run",
      async () => (await env.rt.queues.getJobState(early.jobId)) === null,
    );
    assert.equal((await ops()).length, 1);

    // The files change; the interval passes (moved back rather than waited for).
    await Deno.writeTextFile(join(dir, "b.txt"), text("boats", 25));
    await Deno.writeTextFile(join(dir, "d.txt"), text("dolphins", 20));
    await db.query(
      "update collections set next_sync_at = now() - interval '1 second' where id = $1",
      [collectionId],
    );
    skewMs = 5 * 60_000;
    const check = await scheduler.fire("check_continuous_sync");
    assert.equal(check.created, true);
    assert.notEqual(check.tick, early.tick);

    const sync = await waitFor("the sync to finish", async () => {
      const op = (await ops())[1];
      return op && ["completed", "failed", "cancelled"].includes(op.status) ? op : undefined;
    }, { timeoutMs: OPERATION_MS });
    assert.equal(sync.status, "completed", sync.error_message ?? "");
    assert.equal(sync.type, "sync");
    assert.equal(sync.config.trigger, "schedule");
    assert.equal(sync.metadata.added, 1);
    assert.equal(sync.metadata.modified, 1);
    assert.equal(sync.metadata.deleted, 0);

    const docs = await db.query<{ uri: string; status: string; content_hash: string }>(
      "select uri, status, content_hash from documents where collection_id = $1 order by uri",
      [collectionId],
    );
    assert.deepEqual(
      docs.map((d) => [d.uri.split("/").at(-1), d.status]),
      [["a.txt", "completed"], ["b.txt", "completed"], ["c.txt", "completed"], [
        "d.txt",
        "completed",
      ]],
    );
    const [chunk] = await db.query<{ text: string }>(
      `select k.text from chunks k join documents d on d.id = k.document_id
        where k.collection_id = $1 and d.uri like '%/b.txt' order by k.ordinal limit 1`,
      [collectionId],
    );
    assert.match(chunk!.text, /boats/);
    const [c] = await db.query<{ due_in_min: number; last_synced: boolean }>(
      `select extract(epoch from next_sync_at - now()) / 60 as due_in_min,
              last_synced_at is not null as last_synced
         from collections where id = $1`,
      [collectionId],
    );
    assert.ok(c!.due_in_min > 9 && c!.due_in_min <= 10, `next sync in ${c!.due_in_min} min`);
    assert.equal(c!.last_synced, true);
    const vectors = await env.rt.vectors.count(`col_${collectionId.replaceAll("-", "")}`);
    const [chunks] = await db.query<{ n: number }>(
      "select count(*)::int as n from chunks where collection_id = $1",
      [collectionId],
    );
    assert.equal(vectors, chunks!.n);
  } finally {
    await env.cleanup();
  }
});
