import assert from "node:assert/strict";
import { Registry } from "prom-client";
import type { GpuMemory } from "../embedding/gpu_memory.ts";
import { registerGpuMemoryMetrics } from "./gpu_memory_metrics.ts";

const GIB = 1024 ** 3;

Deno.test("GPU memory is reported per device and state at each scrape, and not at all without a GPU", async () => {
  let gpus: GpuMemory[] | undefined = [
    {
      index: 0,
      uuid: "GPU-1",
      name: "NVIDIA H100",
      totalBytes: 80 * GIB,
      usedBytes: 10 * GIB,
      freeBytes: 70 * GIB,
    },
    {
      index: 1,
      uuid: "GPU-2",
      name: "MIG",
      totalBytes: undefined,
      usedBytes: undefined,
      freeBytes: undefined,
    },
  ];
  const registry = new Registry();
  registerGpuMemoryMetrics(registry, { query: () => Promise.resolve(gpus) });
  let text = await registry.metrics();
  assert.match(
    text,
    new RegExp(
      `^semantik_gpu_memory_bytes\\{gpu="0",name="NVIDIA H100",state="used"\\} ${10 * GIB}$`,
      "m",
    ),
  );
  assert.match(
    text,
    new RegExp(
      `^semantik_gpu_memory_bytes\\{gpu="0",name="NVIDIA H100",state="free"\\} ${70 * GIB}$`,
      "m",
    ),
  );
  assert.doesNotMatch(text, /gpu="1"/);

  gpus = undefined; // nvidia-smi gone (or never there): no samples, no stale ones
  text = await registry.metrics();
  assert.doesNotMatch(text, /^semantik_gpu_memory_bytes\{/m);
});
