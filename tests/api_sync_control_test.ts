// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Issue 26, sync control: pause and resume of continuous sync (the maintenance check skips a
 * paused collection and syncs it again once resumed; a manual sync still runs), and the sync runs
 * with exact counts after files are added, modified and deleted between syncs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger, type OperationRow } from "@semantik/shared";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { checkContinuousSync } from "../worker/maintenance/check_continuous_sync.ts";
import { createApiTestEnv } from "./helpers/api_env.ts";

const text = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${topic} sentence number ${i} about ${topic}.`).join(" ");

Deno.test("pause skips continuous sync, a manual sync still runs, resume restores it; sync runs count each change", async () => {
  const env = await createApiTestEnv();
  try {
    const db = env.rt.db;
    const dir = join(env.docs, "notes");
    await Deno.mkdir(dir);
    for (const n of ["a", "b", "c"]) await Deno.writeTextFile(join(dir, `${n}.txt`), text(n, 20));
    await startWorker(env.rt, {
      overrides: { queueOptions: { blockMs: 200, delayedPollMs: 100 } },
    });
    const me = await env.user();
    const other = await env.user();
    const created = await env.call("POST", "/api/v2/collections", {
      token: me.token,
      body: {
        name: "notes",
        sync_mode: "continuous",
        sync_interval_minutes: 10,
        source: { type: "directory", path: dir },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.collection.sync_paused, false);
    const id: string = created.body.collection.id;
    const row = async (opId: string) =>
      (await db.query<OperationRow>("select * from operations where id = $1", [opId]))[0]!;
    const finished = (opId: string) =>
      waitFor(`operation ${opId} to finish`, async () => {
        const r = await row(opId);
        return ["completed", "failed", "cancelled"].includes(r.status) ? r : undefined;
      }, { timeoutMs: OPERATION_MS, seen: async () => (await row(opId)).status });
    assert.equal((await finished(created.body.operation.id)).status, "completed");
    const makeDue = () =>
      db.query("update collections set next_sync_at = now() - interval '1 minute' where id = $1", [
        id,
      ]);
    const check = () => checkContinuousSync({ db, queues: env.rt.queues, log: getLogger("test") });
    const syncOps = () =>
      db.query<OperationRow>(
        "select * from operations where collection_id = $1 and type = 'sync' order by created_at",
        [id],
      );

    // Someone else's collection is forbidden (API.md: 403 not yours, 404 missing).
    for (
      const path of [
        `/api/v2/collections/${id}/sync/pause`,
        `/api/v2/collections/${id}/sync/resume`,
      ]
    ) {
      const r = await env.call("POST", path, { token: other.token });
      assert.equal(r.status, 403, JSON.stringify(r.body));
    }
    assert.equal(
      (await env.call("GET", `/api/v2/collections/${id}/sync/runs`, { token: other.token })).status,
      403,
    );
    const missing = crypto.randomUUID();
    assert.equal(
      (await env.call("POST", `/api/v2/collections/${missing}/sync/pause`, { token: me.token }))
        .status,
      404,
    );
    assert.equal(
      (await env.call("POST", `/api/v2/collections/nope/sync/pause`, { token: me.token })).status,
      400,
    );

    // Paused: the collection says so, and a due check starts nothing and leaves it due.
    const paused = await env.call("POST", `/api/v2/collections/${id}/sync/pause`, {
      token: me.token,
    });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.id, id);
    assert.equal(paused.body.sync_paused, true);
    assert.equal(
      (await env.call("GET", `/api/v2/collections/${id}`, { token: me.token })).body.sync_paused,
      true,
    );
    await makeDue();
    const skipped = await check();
    assert.equal(skipped.started, 0);
    assert.deepEqual(skipped.paused_ids, [id]);
    assert.equal((await syncOps()).length, 0);

    // A manual sync still runs while paused: one added, one modified.
    await Deno.writeTextFile(join(dir, "d.txt"), text("d", 20));
    await Deno.writeTextFile(join(dir, "b.txt"), text("b changed", 25));
    const manual = await env.call("POST", `/api/v2/collections/${id}/sync`, { token: me.token });
    assert.equal(manual.status, 202, JSON.stringify(manual.body));
    assert.equal((await finished(manual.body.operation.id)).status, "completed");
    // Still paused and still skipped.
    assert.equal((await check()).started, 0);

    // Resumed: the next check syncs it (one added, one deleted, one modified).
    const resumed = await env.call("POST", `/api/v2/collections/${id}/sync/resume`, {
      token: me.token,
    });
    assert.equal(resumed.status, 200);
    assert.equal(resumed.body.sync_paused, false);
    await Deno.remove(join(dir, "c.txt"));
    await Deno.writeTextFile(join(dir, "e.txt"), text("e", 20));
    await Deno.writeTextFile(join(dir, "a.txt"), text("a changed", 30));
    const started = await check();
    assert.equal(started.started, 1);
    assert.deepEqual(started.paused_ids, []);
    const scheduled = await finished(started.operation_ids[0]!);
    assert.equal(scheduled.status, "completed", scheduled.error_message ?? "");

    const runs = await env.call("GET", `/api/v2/collections/${id}/sync/runs`, { token: me.token });
    assert.equal(runs.status, 200, JSON.stringify(runs.body));
    assert.equal(runs.body.next_cursor, null);
    const pick = (r: any) => ({
      operation_id: r.operation_id,
      trigger: r.trigger,
      status: r.status,
      added: r.added,
      modified: r.modified,
      deleted: r.deleted,
      failed: r.failed,
    });
    assert.deepEqual(runs.body.runs.map(pick), [
      {
        operation_id: scheduled.id,
        trigger: "schedule",
        status: "completed",
        added: 1,
        modified: 1,
        deleted: 1,
        failed: 0,
      },
      {
        operation_id: manual.body.operation.id,
        trigger: "user",
        status: "completed",
        added: 1,
        modified: 1,
        deleted: 0,
        failed: 0,
      },
    ]);
    for (const r of runs.body.runs) {
      const op = await row(r.operation_id);
      assert.equal(r.started_at, op.started_at!.toISOString());
      assert.equal(r.finished_at, op.completed_at!.toISOString());
      assert.equal(
        r.duration_seconds,
        (op.completed_at!.getTime() - op.started_at!.getTime()) / 1000,
      );
    }
    // Paging: one run per page.
    const first = await env.call("GET", `/api/v2/collections/${id}/sync/runs?limit=1`, {
      token: me.token,
    });
    assert.deepEqual(first.body.runs.map((r: any) => r.operation_id), [scheduled.id]);
    const second = await env.call(
      "GET",
      `/api/v2/collections/${id}/sync/runs?limit=1&cursor=${first.body.next_cursor}`,
      { token: me.token },
    );
    assert.deepEqual(second.body.runs.map((r: any) => r.operation_id), [manual.body.operation.id]);
    assert.equal(second.body.next_cursor, null);
    const bad = await env.call("GET", `/api/v2/collections/${id}/sync/runs?cursor=zzz`, {
      token: me.token,
    });
    assert.equal(bad.status, 400);
  } finally {
    await env.cleanup();
  }
});
