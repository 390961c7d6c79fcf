// deno-lint-ignore-file no-explicit-any -- response bodies are untyped JSON checked field by field
/**
 * Issue 26, operations: list filters (comma lists of status and type, created_after/before) with
 * keyset paging, their validation errors, and the bulk cancel (only the caller's active matches;
 * a running operation's worker stops).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { OperationRow } from "@semantik/shared";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { startWorker } from "@semantik/worker";
import { Seed } from "../worker/maintenance/_test_seed.ts";
import { createApiTestEnv } from "./helpers/api_env.ts";

const ids = (ops: { id: string }[]) => ops.map((o) => o.id).sort();

Deno.test("GET /api/v2/operations filters by status and type lists and a created range, with paging", async () => {
  const env = await createApiTestEnv();
  try {
    const me = await env.user();
    const other = await env.user();
    const seed = new Seed(env.rt.db);
    seed.userId = me.id;
    const idx = await seed.operation({
      type: "index",
      status: "completed",
      at: "'2026-01-01T10:00:00Z'",
    });
    const syncDone = await seed.operation({
      type: "sync",
      status: "completed",
      at: "'2026-01-02T10:00:00Z'",
    });
    const syncFailed = await seed.operation({
      type: "sync",
      status: "failed",
      at: "'2026-01-03T10:00:00Z'",
    });
    const reindexPending = await seed.operation({
      type: "reindex",
      status: "pending",
      at: "'2026-01-04T10:00:00Z'",
    });
    const appendRunning = await seed.operation({
      type: "append",
      status: "processing",
      at: "'2026-01-05T10:00:00Z'",
    });
    seed.userId = other.id;
    await seed.operation({ type: "sync", status: "completed", at: "'2026-01-02T12:00:00Z'" });

    const list = async (query: string) => {
      const r = await env.call("GET", `/api/v2/operations?${query}`, { token: me.token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.operations as any[];
    };
    await t(
      "status list",
      async () =>
        assert.deepEqual(
          ids(await list("status=completed,failed")),
          ids([idx, syncDone, syncFailed]),
        ),
    );
    await t(
      "type list",
      async () =>
        assert.deepEqual(
          ids(await list("type=sync,reindex")),
          ids([syncDone, syncFailed, reindexPending]),
        ),
    );
    await t(
      "status and type",
      async () =>
        assert.deepEqual(ids(await list("status=completed&type=sync,index")), ids([idx, syncDone])),
    );
    await t("created range (after inclusive, before exclusive)", async () =>
      assert.deepEqual(
        ids(await list("created_after=2026-01-02T10:00:00Z&created_before=2026-01-04T10:00:00Z")),
        ids([syncDone, syncFailed]),
      ));
    await t("date-only bounds and offsets", async () =>
      assert.deepEqual(
        ids(await list("created_after=2026-01-03&created_before=2026-01-05T11:00:00%2B02:00")),
        ids([syncFailed, reindexPending]),
      ));
    await t("everything combined", async () =>
      assert.deepEqual(
        ids(
          await list(
            "status=pending,processing,failed&type=sync,append&created_after=2026-01-03T00:00:00Z",
          ),
        ),
        ids([syncFailed, appendRunning]),
      ));

    // Keyset paging with a filter: pages of 1 walk the matches newest first, no repeats.
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const r: any = await env.call(
        "GET",
        `/api/v2/operations?type=sync,index,append&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        { token: me.token },
      );
      assert.equal(r.status, 200);
      seen.push(...r.body.operations.map((o: any) => o.id));
      cursor = r.body.next_cursor;
    }
    assert.deepEqual(seen, [appendRunning.id, syncFailed.id, syncDone.id, idx.id]);

    for (
      const bad of [
        "status=done",
        "status=completed,",
        "status=",
        "type=index,bogus",
        "created_after=yesterday",
        "created_before=2026-13-01",
        "created_after=2026-01-05&created_before=2026-01-01",
        "collection_id=nope",
      ]
    ) {
      const r = await env.call("GET", `/api/v2/operations?${bad}`, { token: me.token });
      assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_request", bad);
    }
  } finally {
    await env.cleanup();
  }

  async function t(name: string, fn: () => Promise<void>) {
    try {
      await fn();
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
});

Deno.test("POST /api/v2/operations/cancel validates its body", async () => {
  const env = await createApiTestEnv();
  try {
    const me = await env.user();
    for (
      const body of [
        { statuss: "pending" },
        { status: "done" },
        { status: [] },
        { type: ["index", "bogus"] },
        { created_after: "not a time" },
        { created_after: "2026-02-01", created_before: "2026-01-01" },
        { collection_id: "x" },
        [],
      ]
    ) {
      const r = await env.call("POST", "/api/v2/operations/cancel", { token: me.token, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_request");
    }
    const raw = await env.call("POST", "/api/v2/operations/cancel", { token: me.token, raw: "{" });
    assert.equal(raw.status, 400);
    const anon = await env.call("POST", "/api/v2/operations/cancel", { body: {} });
    assert.equal(anon.status, 401);
  } finally {
    await env.cleanup();
  }
});

Deno.test("bulk cancel cancels only the caller's active matches, and a running operation's worker stops", async () => {
  const env = await createApiTestEnv();
  try {
    const me = await env.user();
    const other = await env.user();
    const db = env.rt.db;
    await startWorker(env.rt, {
      overrides: { queueOptions: { blockMs: 200, delayedPollMs: 100 } },
    });

    // A long index running on the worker.
    const big = join(env.docs, "big");
    await Deno.mkdir(big);
    const line = (i: number) => `Entry ${i} of a very long log, with words to fill the chunk.`;
    await Deno.writeTextFile(
      join(big, "huge.txt"),
      Array.from({ length: 40_000 }, (_, i) => line(i)).join("\n"),
    );
    const created = await env.call("POST", "/api/v2/collections", {
      token: me.token,
      body: { name: "big", source: { type: "directory", path: big } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const running: string = created.body.operation.id;
    const row = async (id: string) =>
      (await db.query<OperationRow>("select * from operations where id = $1", [id]))[0]!;
    await waitFor("the index to be processing", async () => {
      const r = await row(running);
      return r.status === "processing" ? r : undefined;
    }, { timeoutMs: OPERATION_MS, seen: async () => (await row(running)).status });

    // Seeded: my pending sync (no job), my pending reindex, my finished ones; the other user's.
    const seed = new Seed(db);
    seed.userId = me.id;
    const mySync = await seed.operation({ type: "sync", status: "pending" });
    const myReindex = await seed.operation({ type: "reindex", status: "pending" });
    const myDone = await seed.operation({ type: "sync", status: "completed" });
    const myFailed = await seed.operation({ type: "index", status: "failed" });
    seed.userId = other.id;
    const theirs = await seed.operation({ type: "sync", status: "pending" });
    const theirsRunning = await seed.operation({ type: "index", status: "processing" });

    // A filter: only syncs. Finished and other users' syncs are not counted.
    const syncs = await env.call("POST", "/api/v2/operations/cancel", {
      token: me.token,
      body: { type: "sync" },
    });
    assert.equal(syncs.status, 200, JSON.stringify(syncs.body));
    assert.deepEqual(syncs.body, { cancelled: 1 });
    assert.equal((await row(mySync.id)).status, "cancelled");
    assert.equal((await row(myReindex.id)).status, "pending");

    // A filter matching only terminal statuses cancels nothing.
    const none = await env.call("POST", "/api/v2/operations/cancel", {
      token: me.token,
      body: { status: "completed,failed" },
    });
    assert.deepEqual(none.body, { cancelled: 0 });

    // An empty body: every active operation of mine.
    const all = await env.call("POST", "/api/v2/operations/cancel", { token: me.token });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(all.body, { cancelled: 2 });
    assert.equal((await row(myReindex.id)).status, "cancelled");
    const stopped = await waitFor("the running index to stop", async () => {
      const r = await row(running);
      return r.status === "cancelled" ? r : undefined;
    }, { timeoutMs: OPERATION_MS, seen: async () => (await row(running)).status });
    assert.ok(stopped.completed_at);
    // The worker let the job go: nothing of it is left in flight on the queue.
    await waitFor("the job to leave the queue", async () => {
      const s = await env.rt.queues.removeJob(running).catch(() => undefined);
      return s && s.state === null ? true : undefined;
    });

    assert.equal((await row(myDone.id)).status, "completed");
    assert.equal((await row(myFailed.id)).status, "failed");
    assert.equal((await row(theirs.id)).status, "pending");
    assert.equal((await row(theirsRunning.id)).status, "processing");
    assert.equal((await row(theirs.id)).cancel_requested_at, null);

    // Nothing left to cancel.
    const again = await env.call("POST", "/api/v2/operations/cancel", {
      token: me.token,
      body: {},
    });
    assert.deepEqual(again.body, { cancelled: 0 });
  } finally {
    await env.cleanup();
  }
});
