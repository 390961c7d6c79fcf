/** GPU memory by device, read with nvidia-smi at each scrape; no series where there is no GPU. */
import type { Registry } from "prom-client";
import { type GpuMemory, queryGpuMemory } from "../embedding/gpu_memory.ts";
import { gauge } from "./metrics_registry.ts";

/** Options of {@link registerGpuMemoryMetrics}. */
export interface GpuMemoryMetricsOptions {
  /** Reads the GPUs; undefined when there are none. @default {queryGpuMemory} */
  query?: () => Promise<GpuMemory[] | undefined>;
}

/** Adds `semantik_gpu_memory_bytes{gpu, name, state}` (state: total, used, free) to `registry`. */
export function registerGpuMemoryMetrics(
  registry: Registry,
  options: GpuMemoryMetricsOptions = {},
): void {
  const { query = () => queryGpuMemory({ signal: AbortSignal.timeout(5000) }) } = options;
  gauge(registry, {
    name: "semantik_gpu_memory_bytes",
    help: "GPU memory by device (nvidia-smi index) and state: total, used, free",
    labelNames: ["gpu", "name", "state"] as const,
    async collect() {
      this.reset();
      const gpus = await query().catch(() => undefined);
      for (const g of gpus ?? []) {
        const labels = { gpu: String(g.index), name: g.name };
        if (g.totalBytes !== undefined) this.set({ ...labels, state: "total" }, g.totalBytes);
        if (g.usedBytes !== undefined) this.set({ ...labels, state: "used" }, g.usedBytes);
        if (g.freeBytes !== undefined) this.set({ ...labels, state: "free" }, g.freeBytes);
      }
    },
  });
}
