/**
 * Test worker processes (tests/procs/queue_worker.ts) for the integration tests: spawn with
 * settings, wait for `ready`, signal, and always kill in `finally` (see {@link WorkerProcesses}).
 */

import { PROCESS_START_MS } from "../../shared/testing/wait.ts";

const SCRIPT = new URL("./queue_worker.ts", import.meta.url).pathname;

export class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  /** Everything the process printed, for failure messages. */
  output = "";
  readonly #ready = Promise.withResolvers<void>();
  readonly #pumps: Promise<void>[];
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, env: Record<string, string>) {
    this.name = name;
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [this.#pump(this.child.stdout, true), this.#pump(this.child.stderr, false)];
    this.status = this.child.status.then((s) => {
      this.#exited = true;
      this.#ready.reject(
        new Error(`${name} exited (code ${s.code}) before ready:\n${this.output}`),
      );
      return s;
    });
    this.#ready.promise.catch(() => {});
  }

  get pid(): number {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Resolves when the worker reads jobs; rejects if it exits first, or when it has not said
   * `ready` within {@link PROCESS_START_MS}.
   */
  async ready(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(
            `Gave up waiting for ${this.name} to print ready after ${PROCESS_START_MS} ms; ` +
              `last saw (its output):\n${this.output}`,
          ),
        );
      }, PROCESS_START_MS);
    });
    try {
      await Promise.race([this.#ready.promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Kills the process (SIGKILL, after SIGCONT in case it was stopped) and waits for it. */
  async destroy(): Promise<void> {
    this.kill("SIGCONT");
    this.kill("SIGKILL");
    await this.status;
    await Promise.allSettled(this.#pumps);
  }

  async #pump(stream: ReadableStream<Uint8Array>, watchReady: boolean): Promise<void> {
    const decoder = new TextDecoder();
    let line = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      this.output += text;
      if (!watchReady) continue;
      line += text;
      if (line.split("\n").some((l) => l.trim() === "ready")) this.#ready.resolve();
      line = line.slice(line.lastIndexOf("\n") + 1);
    }
  }
}

/** Starts processes for one test and kills every one of them in {@link destroyAll}. */
export class WorkerProcesses {
  readonly all: WorkerProcess[] = [];
  readonly #base: Record<string, string>;

  constructor(base: Record<string, string>) {
    this.#base = base;
  }

  /** Starts a worker with `env` over the base settings and waits until it reads jobs. */
  async start(name: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
    const p = new WorkerProcess(name, {
      ...this.#base,
      ...env,
      CONSUMER: `${name}:${crypto.randomUUID().slice(0, 6)}`,
    });
    this.all.push(p);
    await p.ready();
    return p;
  }

  async destroyAll(): Promise<void> {
    await Promise.all(this.all.map((p) => p.destroy()));
  }

  /** The output of every process, for a failure message. */
  dump(): string {
    return this.all.map((p) => `--- ${p.name} ---\n${p.output}`).join("\n");
  }
}
