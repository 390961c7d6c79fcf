/**
 * Chooses where a model runs from `EMBEDDING_DEVICE`:
 *
 * - `cpu`: the CPU.
 * - `cuda`: onnxruntime-node's CUDA provider. Its libraries are not in the npm package: its install
 *   script fetches them (NuGet `Microsoft.ML.OnnxRuntime.Gpu.Linux`); on a GPU host with CUDA 12
 *   and cuDNN 9 run `ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node`.
 *   Missing, the load fails with a message saying so.
 * - `webgpu`: bundled in onnxruntime-node; reaches a GPU through Vulkan when the host has one.
 * - `auto`: CUDA, then WebGPU, when nvidia-smi shows a GPU; else, or when both fail, the CPU,
 *   saying why in one log line per process.
 *
 * Before a GPU load the GPU's free memory is read; when short, a {@link RetryLaterError} asks the
 * queue to run the job later.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { errorMessage, RetryLaterError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { type GpuMemory, queryGpuMemory, visibleGpu } from "./gpu_memory.ts";
import type { ExecutionProvider } from "./inference_runner.ts";

export type EmbeddingDevice = "auto" | "cpu" | "cuda" | "webgpu";

/** What the selector needs to know about the host; tests pass their own. */
export interface DeviceEnvironment {
  /** Whether onnxruntime-node's CUDA provider libraries are installed. */
  cudaProviderInstalled(): Promise<boolean>;
  /** GPUs as nvidia-smi reports them; undefined without nvidia-smi. */
  gpus(): Promise<GpuMemory[] | undefined>;
  /** The `CUDA_VISIBLE_DEVICES` variable. */
  cudaVisibleDevices: string | undefined;
}

/** Where onnxruntime-node keeps its native libraries. */
export function onnxruntimeBinaryDir(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
    return join(
      dirname(entry),
      "..",
      "bin",
      "napi-v6",
      Deno.build.os,
      normaliseArch(Deno.build.arch),
    );
  } catch {
    return undefined;
  }
}

function normaliseArch(arch: string): string {
  return arch === "x86_64" ? "x64" : arch === "aarch64" ? "arm64" : arch;
}

/** The real host: files next to onnxruntime-node's binding, nvidia-smi, the environment. */
export function hostDeviceEnvironment(): DeviceEnvironment {
  let cudaVisibleDevices: string | undefined;
  try {
    cudaVisibleDevices = Deno.env.get("CUDA_VISIBLE_DEVICES");
  } catch {
    cudaVisibleDevices = undefined;
  }
  return {
    async cudaProviderInstalled() {
      const dir = onnxruntimeBinaryDir();
      if (!dir) return false;
      // What onnxruntime-node's install script puts next to its binding for cuda12.
      const libraries = Deno.build.os === "windows"
        ? ["onnxruntime_providers_cuda.dll", "onnxruntime_providers_shared.dll"]
        : ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"];
      for (const library of libraries) {
        try {
          if (!(await Deno.stat(join(dir, library))).isFile) return false;
        } catch {
          return false;
        }
      }
      return true;
    },
    gpus: () => queryGpuMemory(),
    cudaVisibleDevices,
  };
}

export interface DeviceSelectorOptions {
  /** The requested device (`EMBEDDING_DEVICE`). @default {"auto"} */
  device?: EmbeddingDevice;
  /** Where the fallback line and device choices are logged. @default {no logging} */
  log?: Logger;
  /** The host. @default {hostDeviceEnvironment()} */
  environment?: DeviceEnvironment;
  /** CUDA device ordinal the model loads on. @default {0} */
  deviceId?: number;
  /** GPU memory wanted beyond the model file's size (activations, workspaces). @default {1 GiB} */
  gpuMemoryReserveBytes?: number;
  /** Delay the queue is asked to wait when GPU memory is short. @default {30_000} */
  retryDelayMs?: number;
}

/** A model load on one provider; the selector calls it for each provider it tries. */
export type OpenOn<T> = (provider: ExecutionProvider) => Promise<T>;

export const CUDA_MISSING_MESSAGE =
  "onnxruntime-node's CUDA provider is not installed; on a GPU host with CUDA 12 run " +
  "ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node, " +
  "or set EMBEDDING_DEVICE=auto or cpu";

export class DeviceSelector {
  readonly device: EmbeddingDevice;
  readonly deviceId: number;
  readonly #log: Logger | undefined;
  readonly #env: DeviceEnvironment;
  readonly #reserve: number;
  readonly #retryDelayMs: number;
  #fallbackLogged = false;

  constructor(options: DeviceSelectorOptions = {}) {
    const {
      device = "auto",
      log,
      environment = hostDeviceEnvironment(),
      deviceId = 0,
      gpuMemoryReserveBytes = 1024 ** 3,
      retryDelayMs = 30_000,
    } = options;
    if (!["auto", "cpu", "cuda", "webgpu"].includes(device)) {
      throw new RangeError(
        `Cannot select device: EMBEDDING_DEVICE must be auto, cpu, cuda or webgpu, got ${device}`,
      );
    }
    if (!Number.isInteger(deviceId) || deviceId < 0) {
      throw new RangeError(
        `Cannot select device: deviceId must be a non-negative integer, got ${deviceId}`,
      );
    }
    this.device = device;
    this.deviceId = deviceId;
    this.#log = log;
    this.#env = environment;
    this.#reserve = gpuMemoryReserveBytes;
    this.#retryDelayMs = retryDelayMs;
  }

  /**
   * Loads a model (`open`) on the chosen device. `modelBytes` is the size of its weights, for
   * the free-memory check.
   */
  async open<T>(modelName: string, modelBytes: number, open: OpenOn<T>): Promise<T> {
    switch (this.device) {
      case "cpu":
        return await open("cpu");
      case "cuda": {
        if (!(await this.#env.cudaProviderInstalled())) {
          throw new Error(
            `Cannot load model ${modelName} with EMBEDDING_DEVICE=cuda: ${CUDA_MISSING_MESSAGE}`,
          );
        }
        this.#checkGpuMemory(modelName, modelBytes, await this.#env.gpus());
        try {
          return await open("cuda");
        } catch (err) {
          throw new Error(
            `Cannot load model ${modelName} with EMBEDDING_DEVICE=cuda: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      case "webgpu":
        this.#checkGpuMemory(modelName, modelBytes, await this.#env.gpus());
        try {
          return await open("webgpu");
        } catch (err) {
          throw new Error(
            `Cannot load model ${modelName} with EMBEDDING_DEVICE=webgpu: ${
              (err as Error).message
            }`,
            { cause: err },
          );
        }
      case "auto":
        return await this.#auto(modelName, modelBytes, open);
    }
  }

  async #auto<T>(modelName: string, modelBytes: number, open: OpenOn<T>): Promise<T> {
    const gpus = await this.#env.gpus();
    if (!gpus || gpus.length === 0) {
      this.#fallback("no NVIDIA GPU found (nvidia-smi)");
      return await open("cpu");
    }
    this.#checkGpuMemory(modelName, modelBytes, gpus);
    const reasons: string[] = [];
    if (await this.#env.cudaProviderInstalled()) {
      try {
        const loaded = await open("cuda");
        this.#log?.info("embedding on GPU", { model: modelName, provider: "cuda" });
        return loaded;
      } catch (err) {
        reasons.push(`cuda: ${firstLine(err)}`);
      }
    } else {
      reasons.push("cuda: provider not installed (ONNXRUNTIME_NODE_INSTALL=cuda12)");
    }
    try {
      const loaded = await open("webgpu");
      this.#log?.info("embedding on GPU", { model: modelName, provider: "webgpu" });
      return loaded;
    } catch (err) {
      reasons.push(`webgpu: ${firstLine(err)}`);
    }
    this.#fallback(reasons.join("; "));
    return await open("cpu");
  }

  #fallback(reason: string): void {
    if (this.#fallbackLogged) return;
    this.#fallbackLogged = true;
    this.#log?.warn(`EMBEDDING_DEVICE=auto: embedding on CPU: ${reason}`);
  }

  #checkGpuMemory(
    modelName: string,
    modelBytes: number,
    gpus: GpuMemory[] | undefined,
  ): void {
    // Without nvidia-smi (some containers) there is nothing to read; the load itself decides.
    if (!gpus) return;
    const gpu = visibleGpu(gpus, {
      deviceId: this.deviceId,
      cudaVisibleDevices: this.#env.cudaVisibleDevices,
    });
    if (!gpu || gpu.freeBytes === undefined) return;
    const needed = modelBytes + this.#reserve;
    if (gpu.freeBytes < needed) {
      throw new RetryLaterError(
        `Cannot load model ${modelName} on GPU ${gpu.index}: ${mib(gpu.freeBytes)} MiB free, ` +
          `${mib(needed)} MiB needed`,
        this.#retryDelayMs,
      );
    }
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

function firstLine(err: unknown): string {
  const message = errorMessage(err);
  return message.split("\n")[0]!.slice(0, 300);
}
