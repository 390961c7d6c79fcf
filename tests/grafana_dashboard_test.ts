/**
 * The Grafana dashboard (deploy/grafana/dashboards/semantik.json) plots only metrics the code
 * registers: every metric name in its queries is one the API, a worker, the embedder, the GPU
 * reader or the scheduler exposes (histograms through their _bucket/_count/_sum series).
 */
import assert from "node:assert/strict";
import { embeddingMetrics, registerGpuMemoryMetrics } from "@semantik/shared";
import { registerSchedulerMetrics } from "@semantik/scheduler";
import { registerWorkerMetrics, WorkerRuntime } from "@semantik/worker";
import { createApiTestEnv } from "./helpers/api_env.ts";

const DASHBOARD = new URL("../deploy/grafana/dashboards/semantik.json", import.meta.url);

Deno.test("every metric the Grafana dashboard queries is registered by the code", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) =>
    (p.targets ?? []).map((t) => t.expr)
  );
  assert.ok(exprs.length >= 15, `only ${exprs.length} queries`);
  const queried = new Set(
    exprs.flatMap((e) => e.match(/\b(semantik|process|nodejs)_[a-z0-9_]+/g) ?? []),
  );

  const env = await createApiTestEnv();
  const worker = new WorkerRuntime({ redis: env.rt.redis, prefix: "dashboard-test:" });
  try {
    const registry = env.rt.metrics;
    registerWorkerMetrics(registry, worker);
    embeddingMetrics(registry);
    registerGpuMemoryMetrics(registry, { query: () => Promise.resolve(undefined) });
    registerSchedulerMetrics(registry);
    const registered = new Map(
      (await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]),
    );
    for (const name of queried) {
      const base = name.replace(/_(bucket|count|sum)$/, "");
      const ok = registered.has(name) ||
        (base !== name && registered.get(base) === "histogram");
      assert.ok(ok, `the dashboard queries ${name}, which nothing registers`);
    }
  } finally {
    await worker.close();
    await env.cleanup();
  }
});
