import assert from "node:assert/strict";
import { join } from "node:path";
import { RetryLaterError } from "../errors.ts";
import { configureLogging, getLogger } from "../log/logger.ts";
import {
  type DeviceEnvironment,
  DeviceSelector,
  hostDeviceEnvironment,
  onnxruntimeBinaryDir,
} from "./device_selector.ts";
import { type GpuMemory, parseNvidiaSmiMemory } from "./gpu_memory.ts";
import type { ExecutionProvider } from "./inference_runner.ts";
import { InlineInferenceRunner } from "./inference_runner.ts";
import { writeTinyModel } from "./tiny_model.ts";

const GIB = 1024 ** 3;

function fakeHost(options: {
  cuda?: boolean;
  gpus?: GpuMemory[] | undefined;
  visible?: string;
}): DeviceEnvironment {
  return {
    cudaProviderInstalled: () => Promise.resolve(options.cuda ?? false),
    gpus: () => Promise.resolve(options.gpus),
    cudaVisibleDevices: options.visible,
  };
}

function gpuWithFreeMiB(freeMiB: number): GpuMemory[] {
  return parseNvidiaSmiMemory(`0, GPU-1, 81559, ${81559 - freeMiB}, ${freeMiB}, Test GPU\n`);
}

/** An `open` that succeeds only on the given providers, recording each attempt. */
function opener(working: ExecutionProvider[]) {
  const tried: ExecutionProvider[] = [];
  const open = (provider: ExecutionProvider) => {
    tried.push(provider);
    return working.includes(provider)
      ? Promise.resolve(`session on ${provider}`)
      : Promise.reject(new Error(`${provider} unavailable\nsecond line`));
  };
  return { tried, open };
}

/** Log lines written while `fn` runs. */
async function captureLogs(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  configureLogging({ sink: (_level, line) => lines.push(line), format: "json" });
  try {
    await fn();
  } finally {
    configureLogging({
      format: "pretty",
      sink: (level, line) =>
        level === "warn" || level === "error" ? console.error(line) : console.log(line),
    });
  }
  return lines;
}

Deno.test("auto falls back to CPU without a GPU and says so in one log line", async () => {
  const lines = await captureLogs(async () => {
    const selector = new DeviceSelector({
      device: "auto",
      environment: fakeHost({ cuda: true, gpus: undefined }),
      log: getLogger("test"),
    });
    const { tried, open } = opener(["cpu", "cuda", "webgpu"]);
    assert.equal(await selector.open("m1", 1000, open), "session on cpu");
    assert.equal(await selector.open("m2", 1000, open), "session on cpu");
    assert.deepEqual(tried, ["cpu", "cpu"]);
  });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /embedding on CPU: no NVIDIA GPU found/);
});

Deno.test("auto tries CUDA, then WebGPU, then the CPU on a GPU host", async () => {
  const lines = await captureLogs(async () => {
    const selector = new DeviceSelector({
      device: "auto",
      environment: fakeHost({ cuda: true, gpus: gpuWithFreeMiB(40_000) }),
      log: getLogger("test"),
    });
    const { tried, open } = opener(["cpu"]);
    assert.equal(await selector.open("m", 1000, open), "session on cpu");
    assert.deepEqual(tried, ["cuda", "webgpu", "cpu"]);
  });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /cuda: cuda unavailable; webgpu: webgpu unavailable/);
});

Deno.test("auto uses CUDA when it loads, and skips it when its provider is missing", async () => {
  const withCuda = new DeviceSelector({
    environment: fakeHost({ cuda: true, gpus: gpuWithFreeMiB(40_000) }),
  });
  const a = opener(["cuda", "webgpu", "cpu"]);
  assert.equal(await withCuda.open("m", 1000, a.open), "session on cuda");
  assert.deepEqual(a.tried, ["cuda"]);

  const withoutCuda = new DeviceSelector({
    environment: fakeHost({ cuda: false, gpus: gpuWithFreeMiB(40_000) }),
  });
  const b = opener(["cuda", "webgpu", "cpu"]);
  assert.equal(await withoutCuda.open("m", 1000, b.open), "session on webgpu");
  assert.deepEqual(b.tried, ["webgpu"]);
});

Deno.test("an explicit cuda without its provider fails with how to install it", async () => {
  const selector = new DeviceSelector({
    device: "cuda",
    environment: fakeHost({ cuda: false, gpus: gpuWithFreeMiB(40_000) }),
  });
  const { tried, open } = opener(["cpu"]);
  await assert.rejects(
    selector.open("m", 1000, open),
    /Cannot load model m with EMBEDDING_DEVICE=cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12/,
  );
  assert.deepEqual(tried, []);
});

Deno.test("an explicit device that fails to load is an error, never a silent CPU fallback", async () => {
  for (const device of ["cuda", "webgpu"] as const) {
    const selector = new DeviceSelector({
      device,
      environment: fakeHost({ cuda: true, gpus: gpuWithFreeMiB(40_000) }),
    });
    const { tried, open } = opener(["cpu"]);
    await assert.rejects(
      selector.open("m", 1000, open),
      new RegExp(`EMBEDDING_DEVICE=${device}: ${device} unavailable`),
    );
    assert.deepEqual(tried, [device]);
  }
});

Deno.test("short GPU memory asks the queue to retry later instead of loading", async () => {
  for (const device of ["auto", "cuda", "webgpu"] as const) {
    const selector = new DeviceSelector({
      device,
      environment: fakeHost({ cuda: true, gpus: gpuWithFreeMiB(1500) }),
      gpuMemoryReserveBytes: 1 * GIB,
      retryDelayMs: 12_345,
    });
    const { tried, open } = opener(["cuda", "cpu"]);
    const err = await selector.open("m", 600 * 1024 * 1024, open).then(
      () => assert.fail("expected a RetryLaterError"),
      (e) => e,
    );
    assert.ok(err instanceof RetryLaterError, String(err));
    assert.equal(err.delayMs, 12_345);
    assert.match(err.message, /GPU 0: 1500 MiB free, 1624 MiB needed/);
    assert.deepEqual(tried, []);
  }
});

Deno.test("the memory check reads the GPU CUDA_VISIBLE_DEVICES selects", async () => {
  const gpus = parseNvidiaSmiMemory(
    "0, GPU-a, 81559, 81000, 559, Busy\n1, GPU-b, 81559, 0, 81559, Idle\n",
  );
  const onIdle = new DeviceSelector({
    device: "cuda",
    environment: fakeHost({ cuda: true, gpus, visible: "1" }),
  });
  assert.equal(await onIdle.open("m", 1000, opener(["cuda"]).open), "session on cuda");
  const onBusy = new DeviceSelector({
    device: "cuda",
    environment: fakeHost({ cuda: true, gpus, visible: "1,0" }),
    deviceId: 1,
  });
  await assert.rejects(onBusy.open("m", 1000, opener(["cuda"]).open), RetryLaterError);
});

Deno.test("DeviceSelector rejects an unknown device", () => {
  assert.throws(
    // @ts-expect-error: testing a value from outside the type system
    () => new DeviceSelector({ device: "tpu" }),
    /must be auto, cpu, cuda or webgpu, got tpu/,
  );
});

const host = hostDeviceEnvironment();
const cudaHere = await host.cudaProviderInstalled();

Deno.test("onnxruntimeBinaryDir() finds onnxruntime-node's native libraries", async () => {
  const dir = onnxruntimeBinaryDir();
  assert.ok(dir);
  assert.ok((await Deno.stat(join(dir, "onnxruntime_binding.node"))).isFile);
});

Deno.test({
  name: "on this host, an explicit cuda fails clearly and auto runs on the CPU",
  ignore: cudaHere,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await writeTinyModel(dir);
      const path = join(dir, "model.onnx");
      const open = (provider: ExecutionProvider) => InlineInferenceRunner.open(path, { provider });
      await assert.rejects(
        new DeviceSelector({ device: "cuda" }).open("tiny", 1000, open),
        /ONNXRUNTIME_NODE_INSTALL=cuda12/,
      );
      const runner = await new DeviceSelector({
        device: "auto",
        environment: { ...host, gpus: () => Promise.resolve(undefined) },
      })
        .open("tiny", 1000, open);
      assert.equal(runner.provider, "cpu");
      await runner.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "on this host without a GPU adapter, webgpu fails with ONNX Runtime's reason",
  ignore: (await host.gpus()) !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await writeTinyModel(dir);
      const path = join(dir, "model.onnx");
      await assert.rejects(
        new DeviceSelector({ device: "webgpu" }).open(
          "tiny",
          1000,
          (provider) => InlineInferenceRunner.open(path, { provider }),
        ),
        /Cannot load model tiny with EMBEDDING_DEVICE=webgpu: .*adapter/i,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
