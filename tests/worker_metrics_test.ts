/**
 * A worker process's metrics endpoint (`METRICS_PORT`), scraped while it runs: the metric
 * families are there, health answers, and the counters move when jobs run (an embedding batch
 * through the reply channel, a maintenance tick).
 */
import assert from "node:assert/strict";
import {
  createRedis,
  generateEmbeddingsBatchTask,
  getLogger,
  KeySpace,
  QueueClient,
  reconcileTask,
  ReplyClient,
} from "@semantik/shared";
import {
  createServerTestDb,
  testModelsDir,
  waitFor,
  withTestRedis,
} from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const WORKER_MAIN = new URL("../worker/main.ts", import.meta.url).pathname;

/** The value of the sample `name{labels}` in a scrape (0 when absent). */
function sample(scrape: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of scrape.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? "").split(",");
    if (wanted.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

Deno.test("a running worker serves /metrics, /healthz and /readyz, and its counters move as jobs run", async () => {
  await withTestRedis(async (t) => {
    const db = await createServerTestDb();
    const dataDir = await Deno.makeTempDir({ prefix: "semantik-worker-metrics-" });
    const proc = spawnDeno(WORKER_MAIN, {
      env: {
        DATABASE_URL: db.url!,
        REDIS_URL: t.url,
        REDIS_PREFIX: t.prefix,
        DATA_DIR: dataDir,
        MODELS_DIR: testModelsDir(),
        EMBEDDING_DEVICE: "cpu",
        METRICS_PORT: "0",
        WORKER_SHUTDOWN_TIMEOUT_S: "1",
        LOG_LEVEL: "info",
      },
    });
    const replies = new ReplyClient(
      new QueueClient(t.redis, { prefix: t.prefix }),
      new KeySpace(t.prefix),
      () => createRedis(t.url, { name: "test:replies", blocking: true }),
      getLogger("test"),
      { timeoutMs: 60_000 },
    );
    try {
      const [, url] = await proc.waitForLine(/metrics listening url=(\S+)/);
      await proc.waitForLine(/worker started/);
      const scrape = async () => {
        const res = await fetch(url!);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
        return await res.text();
      };

      const before = await scrape();
      for (
        const [family, type] of [
          ["semantik_job_attempts_total", "counter"],
          ["semantik_job_duration_seconds", "histogram"],
          ["semantik_jobs_in_flight", "gauge"],
          ["semantik_job_retries_total", "counter"],
          ["semantik_job_lease_losses_total", "counter"],
          ["semantik_job_reclaims_total", "counter"],
          ["semantik_job_dead_letters_total", "counter"],
          ["semantik_embedding_texts_total", "counter"],
          ["semantik_embedding_tokens_total", "counter"],
          ["semantik_embedding_batch_size", "histogram"],
          ["semantik_embedding_oom_halvings_total", "counter"],
          ["process_cpu_seconds_total", "counter"],
        ]
      ) assert.match(before, new RegExp(`^# TYPE ${family} ${type}$`, "m"), family);
      assert.equal(sample(before, "semantik_jobs_in_flight", { queue: "embed" }), 0);

      const health = await fetch(url!.replace("/metrics", "/healthz"));
      assert.equal(health.status, 200, await health.text());
      const ready = await fetch(url!.replace("/metrics", "/readyz"));
      const readyBody = await ready.json();
      assert.equal(ready.status, 200, JSON.stringify(readyBody));
      assert.deepEqual(Object.keys(readyBody.checks).sort(), ["database", "redis", "worker"]);

      // An embedding batch (embed queue) and a maintenance tick (default queue).
      const texts = ["first text to embed", "a second, somewhat longer text to embed"];
      const res = await replies.request<typeof generateEmbeddingsBatchTask.schema, {
        vectors: number[][];
      }>(generateEmbeddingsBatchTask, {
        texts,
        model: "sentence-transformers/all-MiniLM-L6-v2",
        mode: "document",
      });
      assert.equal(res.vectors.length, 2);
      await new QueueClient(t.redis, { prefix: t.prefix }).enqueue(reconcileTask, {
        tick: new Date().toISOString(),
      });

      const embedTask = { queue: "embed", task: generateEmbeddingsBatchTask.name };
      const tickTask = { queue: "default", task: reconcileTask.name };
      const after = await waitFor("both jobs to be counted as completed", async () => {
        const s = await scrape();
        const done = (l: Record<string, string>) =>
          sample(s, "semantik_job_duration_seconds_count", { ...l, outcome: "completed" });
        return done(embedTask) === 1 && done(tickTask) === 1 ? s : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      assert.equal(sample(after, "semantik_job_attempts_total", embedTask), 1);
      assert.equal(sample(after, "semantik_job_attempts_total", tickTask), 1);
      const model = { model: "sentence-transformers/all-MiniLM-L6-v2" };
      assert.equal(sample(after, "semantik_embedding_texts_total", model), 2);
      // Real tokens of both texts with [CLS] and [SEP]: at least one per word.
      assert.ok(sample(after, "semantik_embedding_tokens_total", model) >= 12, after);
      assert.equal(sample(after, "semantik_embedding_batch_size_count", model), 1);
      assert.equal(sample(after, "semantik_embedding_batch_size_sum", model), 2);

      const status = await proc.stop("SIGTERM");
      assert.equal(status.code, 0, proc.lines.join("\n"));
    } finally {
      await replies.close();
      await proc.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      await db.cleanup();
    }
  });
});
