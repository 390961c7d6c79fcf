/**
 * Moves due delayed jobs (retries, postponed and delayed enqueues) back into their stream. Every
 * worker runs one per queue; the promotion script lets exactly one of them move each job. It
 * sleeps until the earliest delayed job is due, but at most `pollMs`, since other processes add
 * delayed jobs it cannot see coming; {@link DelayedMover.wake} shortens the sleep when this
 * process schedules one itself.
 */
import type { QueueKeys } from "./keys.ts";
import type { QueueScripts } from "./scripts.ts";
import { sleep } from "../async/sleep.ts";
import { type Backoff, backoffDelay, resolveBackoff } from "../async/backoff.ts";

/** Options of {@link DelayedMover}. */
export interface DelayedMoverOptions {
  /** Longest sleep between checks, in ms. @default {1000} */
  pollMs?: number;
  /** Most jobs moved by one script call. @default {100} */
  batchSize?: number;
  /** Reports an error of a check; the mover carries on after a pause. @default {ignore} */
  onError?: (err: unknown) => void;
}

export class DelayedMover {
  readonly #keys: QueueKeys;
  readonly #scripts: QueueScripts;
  readonly #pollMs: number;
  readonly #errorBackoff: Backoff;
  readonly #batchSize: number;
  readonly #onError: (err: unknown) => void;
  #stop = new AbortController();
  #wake = new AbortController();
  #wakeAt = Infinity;
  #loop: Promise<void> | undefined;
  /** Jobs this mover promoted so far. */
  moved = 0;

  constructor(keys: QueueKeys, scripts: QueueScripts, options: DelayedMoverOptions = {}) {
    const { pollMs = 1000, batchSize = 100, onError = () => {} } = options;
    if (!(pollMs > 0)) {
      throw new RangeError(`Cannot create delayed mover: pollMs must be positive, got ${pollMs}`);
    }
    this.#keys = keys;
    this.#scripts = scripts;
    this.#pollMs = pollMs;
    // After a failed move: pollMs, doubling, at most 32 x pollMs and 30 s.
    this.#errorBackoff = resolveBackoff({
      delayMs: Math.max(1, Math.round(pollMs)),
      maxDelayMs: Math.min(Math.round(pollMs * 32), 30_000),
      jitter: 0,
    });
    this.#batchSize = batchSize;
    this.#onError = onError;
  }

  start(): void {
    if (this.#loop) throw new Error("Cannot start delayed mover: it is already running");
    this.#loop = this.#run();
  }

  /** Asks for a check in `inMs` at the latest (a job was just delayed by that much). */
  wake(inMs = 0): void {
    const at = Date.now() + inMs;
    if (at < this.#wakeAt) {
      this.#wakeAt = at;
      this.#wake.abort();
    }
  }

  /** Stops the loop and waits for it. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Moves what is due now; returns ms until the next delayed job (-1: none), capped at pollMs. */
  async moveDue(): Promise<number> {
    for (;;) {
      const [ids, nextIn] = await this.#scripts.dueJobs([this.#keys.delayed], [this.#batchSize]);
      if (ids.length > 0) {
        this.moved += await this.#scripts.promoteDelayed(
          [this.#keys.delayed, this.#keys.stream, ...ids.map((id) => this.#keys.job(id))],
          ids,
        );
      }
      if (ids.length < this.#batchSize) return nextIn;
    }
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    let failures = 0;
    while (!stop.aborted) {
      let wait = this.#pollMs;
      try {
        const nextIn = await this.moveDue();
        failures = 0;
        // +1 ms: the server's clock must have reached the due time when we look again.
        if (nextIn >= 0) wait = Math.min(wait, nextIn + 1);
      } catch (err) {
        failures++;
        this.#onError(err);
        wait = backoffDelay(failures + 1, this.#errorBackoff);
      }
      if (stop.aborted) break;
      const wakeIn = this.#wakeAt - Date.now();
      if (wakeIn < wait) wait = Math.max(0, wakeIn);
      this.#wakeAt = Infinity;
      this.#wake = new AbortController();
      await sleep(wait, AbortSignal.any([stop, this.#wake.signal]));
    }
  }
}
