/**
 * Redis is flushed in the middle of an indexing operation: the job and its lease are gone, the
 * worker aborts the handler, and Postgres still says `processing`. The scheduler's reconcile
 * firing enqueues the operation again; it resumes and completes with the same counts as an
 * undisturbed run of the same corpus. A private Redis: FLUSHALL must not touch other tests'.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createRedis,
  type OperationRow,
  readOperationEvents,
  startPrivateRedis,
} from "@semantik/shared";
import { OPERATION_MS, waitFor } from "@semantik/shared/testing";
import { buildHandlers, Semaphore, startWorker } from "@semantik/worker";
import { type CronRegistrar, startScheduler } from "@semantik/scheduler";
import { createApiTestEnv } from "./helpers/api_env.ts";

const noCron: CronRegistrar = (_name, _schedule, options) =>
  new Promise((resolve) => options.signal?.addEventListener("abort", () => resolve()));

/**
 * The worker's embedding semaphore, able to hold one model batch: once armed, the `n`th batch
 * from then on waits until released (or until its job is aborted), so a test can act while an
 * operation is half done.
 */
class HoldingSemaphore extends Semaphore {
  #countdown = 0;
  #release = Promise.withResolvers<void>();
  /** Set when a batch is held. */
  isHeld = false;
  /** Set when the held batch's job was aborted. */
  isAborted = false;

  holdBatch(n: number): void {
    this.#countdown = n;
  }

  release(): void {
    this.#release.resolve();
  }

  /** Every embedding call takes its permit here (`run` too). */
  override async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#countdown > 0 && --this.#countdown === 0) {
      this.isHeld = true;
      await new Promise<void>((resolve, reject) => {
        this.#release.promise.then(resolve);
        signal?.addEventListener("abort", () => {
          this.isAborted = true;
          reject(signal.reason);
        }, { once: true });
      });
    }
    return await super.acquire(signal);
  }
}

const finished = (op: OperationRow | undefined) =>
  op && ["completed", "failed", "cancelled"].includes(op.status) ? op : undefined;

Deno.test("an operation whose jobs Redis lost in a flush completes, with the right counts, after reconcile", async () => {
  const redisServer = await startPrivateRedis();
  const env = await createApiTestEnv({ env: { REDIS_URL: redisServer.url } });
  const admin = createRedis(redisServer.url, { name: "test:admin" });
  try {
    const corpus = join(env.docs, "corpus");
    await Deno.mkdir(corpus);
    const words = ["river", "mountain", "engine", "garden", "harbour", "violin", "comet", "forest"];
    for (let i = 0; i < 40; i++) {
      const body = Array.from(
        { length: 60 },
        (_, k) => `${words[(i + k) % words.length]} ${i} line ${k} of file ${i}.`,
      ).join(" ");
      await Deno.writeTextFile(join(corpus, `doc${String(i).padStart(2, "0")}.txt`), body);
    }
    await Deno.writeTextFile(join(corpus, "empty.txt"), "");
    await Deno.writeFile(join(corpus, "blob.bin"), new Uint8Array(4096).map((_, i) => i % 7));

    const gate = new HoldingSemaphore(1);
    const worker = await startWorker(env.rt, {
      registry: (ctx) => buildHandlers({ ...ctx, embeddingSemaphore: gate }),
      overrides: {
        embeddingSemaphore: gate,
        queueOptions: {
          leaseMs: 2000,
          heartbeatMs: 200,
          reclaimIntervalMs: 500,
          blockMs: 200,
          delayedPollMs: 100,
        },
      },
    });
    const scheduler = startScheduler(env.rt, { cron: noCron });
    const db = env.rt.db;
    const { token } = await env.user();
    const opOf = async (id: string) =>
      (await db.query<OperationRow>("select * from operations where id = $1", [id]))[0]!;
    const index = async (name: string) => {
      const res = await env.call("POST", "/api/v2/collections", {
        token,
        // Small chunks: several model batches, so the flush can fall between two.
        body: {
          name,
          chunk_size: 16,
          chunk_overlap: 2,
          source: { type: "directory", path: corpus },
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { collection: { id: string }; operation: { id: string } };
    };

    // An undisturbed run of the same corpus gives the counts to expect.
    const control = await index("control");
    const controlOp = await waitFor(
      "the control run",
      async () => finished(await opOf(control.operation.id)),
      { timeoutMs: OPERATION_MS },
    );
    assert.equal(controlOp.status, "completed", controlOp.error_message ?? "");
    assert.ok(
      Number(controlOp.metadata.chunks_created) > 2 * 128,
      `only ${controlOp.metadata.chunks_created} chunks: not several batches`,
    );

    gate.holdBatch(2);
    const victim = await index("victim");
    const opId = victim.operation.id;
    await waitFor("the second model batch to be held", () => gate.isHeld, {
      timeoutMs: OPERATION_MS,
    });
    // Half done: the first batch's documents are recorded.
    await waitFor("the first batch's documents", async () => {
      const [r] = await db.query<{ n: number }>(
        "select count(*)::int as n from documents where collection_id = $1 and status = 'completed'",
        [victim.collection.id],
      );
      return r!.n > 0;
    });
    const before = await opOf(opId);
    assert.equal(before.status, "processing");

    await admin.flushall();
    // The lease renewal finds the job gone and aborts the handler.
    // Four leases (2 s each): the renewal that finds the job gone comes within one.
    await waitFor("the held batch's job to be aborted", () => gate.isAborted, {
      timeoutMs: 8_000,
    });
    await waitFor("the handler to stop", () => worker.workers.get("default")!.runningCount === 0);
    gate.release();
    const lost = await opOf(opId);
    assert.equal(lost.status, "processing");
    assert.equal(await env.rt.queues.getJobState(opId), null);

    // The grace period passes (moved back rather than waited for); the scheduler fires reconcile.
    await db.query(
      "update operations set updated_at = now() - interval '2 minutes' where id = $1",
      [
        opId,
      ],
    );
    const fire = await scheduler.fire("reconcile");
    assert.equal(fire.created, true);

    const done = await waitFor("the operation to finish", async () => finished(await opOf(opId)), {
      timeoutMs: OPERATION_MS,
    });
    assert.equal(done.status, "completed", done.error_message ?? "");
    for (
      const k of [
        "documents_total",
        "documents_processed",
        "documents_failed",
        "documents_skipped",
        "chunks_created",
      ]
    ) {
      assert.equal(done.metadata[k], controlOp.metadata[k], `${k} differs from the control run`);
    }
    assert.ok(done.attempts >= 1);
    const [docs] = await db.query<{ completed: number; skipped: number; pending: number }>(
      `select count(*) filter (where status = 'completed')::int as completed,
              count(*) filter (where status = 'skipped')::int as skipped,
              count(*) filter (where status = 'pending')::int as pending
         from documents where collection_id = $1`,
      [victim.collection.id],
    );
    assert.deepEqual(docs, { completed: 40, skipped: 2, pending: 0 });
    const [chunks] = await db.query<{ n: number }>(
      "select count(*)::int as n from chunks where collection_id = $1",
      [victim.collection.id],
    );
    assert.equal(chunks!.n, controlOp.metadata.chunks_created);
    assert.equal(
      await env.rt.vectors.count(`col_${victim.collection.id.replaceAll("-", "")}`),
      chunks!.n,
    );
    // Event ids went on from where Postgres had them, through the flush, without a gap.
    const { events } = await readOperationEvents(env.rt.redis, {
      keys: env.rt.events.keys,
      operationId: opId,
    });
    assert.ok(events.length > 0);
    assert.ok(events[0]!.event_id > Number(before.event_seq));
    assert.deepEqual(
      events.map((e) => e.event_id),
      events.map((_, i) => events[0]!.event_id + i),
    );
    assert.equal(events.at(-1)!.type, "OPERATION_COMPLETED");
  } finally {
    admin.disconnect();
    await env.cleanup();
    await redisServer.stop();
  }
});
