/**
 * One loaded ONNX session behind a small interface, so the embedder does not care whether it
 * runs in this thread ({@link InlineInferenceRunner}) or in a worker thread
 * (`WorkerInferenceRunner`), and tests can wrap a runner to inject failures.
 */
import * as ort from "onnxruntime-node";
import { availableCpus } from "./cpu_threads.ts";

export interface IntTensor {
  data: BigInt64Array;
  dims: number[];
}

export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

/** A device as ONNX Runtime knows it. */
export type ExecutionProvider = "cpu" | "cuda" | "webgpu";

export interface RunnerOptions {
  /** Where the model runs; ONNX Runtime places nodes a provider lacks on the CPU. @default {"cpu"} */
  provider?: ExecutionProvider;
  /** CUDA device ordinal (as CUDA numbers the visible devices). @default {0} */
  deviceId?: number;
  /**
   * Threads of one CPU operator. 0 would be ONNX Runtime's own choice, one per *physical* core
   * as it counts them, ignoring cgroup quotas: one thread on a 2-vCPU virtual machine.
   * @default {availableCpus(): the cores this process may use, cgroup quota included}
   */
  intraOpNumThreads?: number;
  /**
   * Whether idle operator threads spin waiting for work (`session.intra_op.allow_spinning`):
   * a little faster between operators, but spinning threads burn CPU that other processes on the
   * host (the API, Postgres, other workers) could use. @default {false}
   */
  allowSpinning?: boolean;
}

/** Options of {@link InferenceRunner.run}. */
export interface RunOptions {
  /**
   * Called when a session takes the run, after any wait for one (a pool whose sessions are all
   * busy): what an embedder times its batches from. @default {none}
   */
  onStart?: () => void;
}

export interface InferenceRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The provider the session was created with. */
  readonly provider: ExecutionProvider;
  /** Runs the model on int64 inputs and returns one float output. */
  run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor>;
  close(): Promise<void>;
}

/** onnxruntime-node session options for a runner. */
export function sessionOptions(options: RunnerOptions): ort.InferenceSession.SessionOptions {
  const {
    provider = "cpu",
    deviceId = 0,
    intraOpNumThreads = availableCpus(),
    allowSpinning = false,
  } = options;
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] = provider === "cuda"
    ? [{ name: "cuda", deviceId }]
    : [provider];
  return {
    executionProviders,
    graphOptimizationLevel: "all",
    intraOpNumThreads,
    // One operator at a time: the graph is a chain, and parallel operators would compete with
    // the intra-op threads for the same cores.
    executionMode: "sequential",
    interOpNumThreads: 1,
    extra: {
      session: { intra_op: { allow_spinning: allowSpinning ? "1" : "0" } },
    },
    // Warnings about nodes placed on the CPU are expected and would drown real problems.
    logSeverityLevel: 3,
  };
}

/**
 * A session in the calling thread. onnxruntime-node runs inference synchronously, so a run
 * blocks this thread's event loop for its whole duration: fine for a CLI or a benchmark, not for
 * a process that must keep answering (use the worker-thread runner there).
 */
export class InlineInferenceRunner implements InferenceRunner {
  readonly #session: ort.InferenceSession;
  readonly provider: ExecutionProvider;

  private constructor(session: ort.InferenceSession, provider: ExecutionProvider) {
    this.#session = session;
    this.provider = provider;
  }

  static async open(
    modelPath: string,
    options: RunnerOptions = {},
  ): Promise<InlineInferenceRunner> {
    const session = await ort.InferenceSession.create(modelPath, sessionOptions(options));
    return new InlineInferenceRunner(session, options.provider ?? "cpu");
  }

  get inputNames(): readonly string[] {
    return this.#session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.#session.outputNames;
  }

  async run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    options?.onStart?.();
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      tensors[name] = new ort.Tensor("int64", t.data, t.dims);
    }
    const result = await this.#session.run(tensors, [output]);
    const out = result[output];
    if (!out || out.type !== "float32") {
      throw new Error(`Cannot read model output ${output}: got ${out ? out.type : "nothing"}`);
    }
    return { data: out.data as Float32Array, dims: [...out.dims] };
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
