/**
 * Blob contents from one long-running `git cat-file --batch` (a process per blob would cost
 * milliseconds each, minutes for a large repository). Requests go one at a time; a blob larger
 * than the cap is drained in pieces and refused, never held whole; an aborted read ends the
 * process (the stream would be mid-blob) and the next read starts a new one.
 */
import { ExtractionError } from "../extraction/extraction_error.ts";

const NEWLINE = 0x0a;

export interface GitBlobReaderOptions {
  /** The git binary. @default {"git"} */
  git?: string;
  /** Names the repository (`GIT_DIR`). */
  env: Record<string, string>;
}

export class GitBlobReader {
  readonly #options: GitBlobReaderOptions;
  #process: Deno.ChildProcess | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buffer = new Uint8Array(0);
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: GitBlobReaderOptions) {
    this.#options = options;
  }

  /**
   * The bytes of blob `oid`.
   * @throws {ExtractionError} `skipped` when larger than `maxBytes`, `failed` when the clone
   * does not hold it.
   */
  read(oid: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(oid)) {
      return Promise.reject(new ExtractionError("failed", `not a Git object id: ${oid}`));
    }
    const run = this.#chain.then(() => this.#read(oid, maxBytes, signal));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Ends the process; a later read starts a new one. */
  async close(): Promise<void> {
    await this.#chain;
    await this.#stop();
  }

  async #read(oid: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    this.#start();
    const onAbort = () => void this.#stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#writer!.write(new TextEncoder().encode(`${oid}\n`));
      const header = new TextDecoder().decode(await this.#readLine());
      const [, type, sizeText] = header.split(" ");
      if (type === "missing" || sizeText === undefined) {
        throw new ExtractionError(
          "failed",
          `the Git blob ${oid} is no longer in the local clone (sync the source again)`,
        );
      }
      const size = Number(sizeText);
      if (type !== "blob") {
        await this.#skip(size + 1);
        throw new ExtractionError("failed", `Git object ${oid} is a ${type}, not a file`);
      }
      if (size > maxBytes) {
        await this.#skip(size + 1);
        throw new ExtractionError(
          "skipped",
          `file is larger than the ${maxBytes} byte limit (MAX_FILE_SIZE_MB): ${size} bytes`,
        );
      }
      const bytes = await this.#take(size + 1);
      return bytes.subarray(0, size);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!(err instanceof ExtractionError)) await this.#stop();
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #start(): void {
    if (this.#process) return;
    this.#process = new Deno.Command(this.#options.git ?? "git", {
      args: ["cat-file", "--batch"],
      env: this.#options.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.#process.stdin.getWriter();
    this.#reader = this.#process.stdout.getReader();
    this.#buffer = new Uint8Array(0);
  }

  async #stop(): Promise<void> {
    const process = this.#process;
    if (!process) return;
    this.#process = undefined;
    const writer = this.#writer;
    const reader = this.#reader;
    this.#writer = this.#reader = undefined;
    await writer?.close().catch(() => {});
    await reader?.cancel().catch(() => {});
    try {
      process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await process.status.catch(() => {});
  }

  /** Reads more output into the buffer. */
  async #fill(): Promise<void> {
    const { done, value } = await this.#reader!.read();
    if (done) throw new Error("git cat-file ended unexpectedly");
    const next = new Uint8Array(this.#buffer.length + value.length);
    next.set(this.#buffer);
    next.set(value, this.#buffer.length);
    this.#buffer = next;
  }

  async #readLine(): Promise<Uint8Array> {
    while (true) {
      const at = this.#buffer.indexOf(NEWLINE);
      if (at >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.subarray(at + 1);
        return line;
      }
      await this.#fill();
    }
  }

  async #take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      if (this.#buffer.length === 0) await this.#fill();
      const piece = this.#buffer.subarray(0, n - at);
      out.set(piece, at);
      at += piece.length;
      this.#buffer = this.#buffer.subarray(piece.length);
    }
    return out;
  }

  async #skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#buffer.length === 0) await this.#fill();
      const piece = Math.min(left, this.#buffer.length);
      this.#buffer = this.#buffer.subarray(piece);
      left -= piece;
    }
  }
}
