/**
 * Several sessions of one model behind the {@link InferenceRunner} interface: each run goes to a
 * session that is free (the longest waiting run first when none is), so up to `size` batches run
 * at once, each in its own worker thread.
 *
 * Why: on a CPU, one session with a thread per core parallelises each operator, and a small
 * model's operators are short: the threads meet at every one of them. One single-threaded
 * session per core runs whole batches side by side with no such meeting (measured on an AMD EPYC
 * with AVX-512 VNNI, 2 cores: 211-250 texts/s against 156-178 at 4 texts of 128 tokens, 227-231
 * against 116-117 one text at a time; bench/README.md).
 */
import type {
  ExecutionProvider,
  FloatTensor,
  InferenceRunner,
  IntTensor,
  RunOptions,
} from "./inference_runner.ts";

export class RunnerPool implements InferenceRunner {
  readonly #runners: readonly InferenceRunner[];
  readonly #free: InferenceRunner[];
  readonly #waiting: ((runner: InferenceRunner) => void)[] = [];

  constructor(runners: readonly InferenceRunner[]) {
    if (runners.length === 0) throw new RangeError("Cannot create runner pool: no runner given");
    const names = (r: InferenceRunner) =>
      `${r.provider} ${r.inputNames.join(",")} -> ${r.outputNames.join(",")}`;
    for (const r of runners) {
      if (names(r) !== names(runners[0]!)) {
        throw new Error(
          `Cannot create runner pool: sessions differ (${names(runners[0]!)} and ${names(r)})`,
        );
      }
    }
    this.#runners = runners;
    this.#free = [...runners];
  }

  /** Sessions: runs that may go at once. */
  get size(): number {
    return this.#runners.length;
  }
  get inputNames(): readonly string[] {
    return this.#runners[0]!.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.#runners[0]!.outputNames;
  }
  get provider(): ExecutionProvider {
    return this.#runners[0]!.provider;
  }

  /** Runs on a free session, waiting for one if none is; `onStart` is called once it has one. */
  async run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    const runner = this.#free.pop() ??
      await new Promise<InferenceRunner>((resolve) => this.#waiting.push(resolve));
    try {
      return await runner.run(feeds, output, options);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(runner);
      else this.#free.push(runner);
    }
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled(this.#runners.map((r) => r.close()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

/** How many batches `runner` can run at once (a {@link RunnerPool}'s size, else 1). */
export function parallelRunsOf(runner: InferenceRunner): number {
  return runner instanceof RunnerPool ? runner.size : 1;
}
