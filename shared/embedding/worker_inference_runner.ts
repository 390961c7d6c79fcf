/**
 * An {@link InferenceRunner} whose session lives in a dedicated worker thread
 * (`inference_worker.ts`). onnxruntime-node's run is synchronous; here it blocks only that
 * thread. Inputs and outputs move between threads by transfer, not copy.
 *
 * A compiled binary (`deno compile`) must include the worker module:
 * `--include shared/embedding/inference_worker.ts`.
 */
import type {
  ExecutionProvider,
  FloatTensor,
  InferenceRunner,
  IntTensor,
  RunnerOptions,
  RunOptions,
} from "./inference_runner.ts";

export type WorkerRequest =
  | { id: number; type: "open"; modelPath: string; options: RunnerOptions }
  | { id: number; type: "run"; feeds: Record<string, IntTensor>; output: string }
  | { id: number; type: "close" };

export type WorkerResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class WorkerInferenceRunner implements InferenceRunner {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];
  readonly provider: ExecutionProvider;

  private constructor(provider: ExecutionProvider) {
    this.provider = provider;
    this.#worker = new Worker(new URL("./inference_worker.ts", import.meta.url), {
      type: "module",
      name: "onnx-inference",
    });
    this.#worker.onmessage = (event: MessageEvent<WorkerResponse>) => {
      const message = event.data;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else {
        const err = new Error(message.error.message);
        err.name = message.error.name;
        pending.reject(err);
      }
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(new Error(`Inference worker crashed: ${event.message}`));
    };
  }

  /** Starts a worker thread and loads the model there; the thread ends if loading fails. */
  static async open(
    modelPath: string,
    options: RunnerOptions = {},
  ): Promise<WorkerInferenceRunner> {
    const runner = new WorkerInferenceRunner(options.provider ?? "cpu");
    try {
      const names = await runner.#call({ id: 0, type: "open", modelPath, options }) as {
        inputNames: string[];
        outputNames: string[];
      };
      runner.inputNames = names.inputNames;
      runner.outputNames = names.outputNames;
      return runner;
    } catch (err) {
      runner.#worker.terminate();
      throw err;
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #call(request: WorkerRequest, transfer: Transferable[] = []): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  /**
   * Posts the run to the thread, which takes runs one at a time: `onStart` is called as it is
   * posted, so runs posted while another runs are timed from then (a `RunnerPool` in front,
   * as the registry builds it, posts one at a time).
   */
  async run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    if (this.#closing) throw new Error("Cannot run model: the runner is closed");
    options?.onStart?.();
    const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
    return await this.#call({ id: 0, type: "run", feeds, output }, transfer) as FloatTensor;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#call({ id: 0, type: "close" });
      } catch {
        // A crashed worker has nothing left to release.
      } finally {
        this.#worker.terminate();
        this.#fail(new Error("Cannot run model: the runner is closed"));
      }
    })();
    return this.#closing;
  }
}
