/**
 * Politeness towards a host: one request at a time, and a pause between the end of one and the
 * start of the next. One pacer serves every web source of a process, so two collections crawling
 * the same site still take turns.
 */
import { sleep } from "../async/sleep.ts";

export class HostPacer {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #readyAt = new Map<string, number>();

  /**
   * Runs `fn` once no other call for `host` runs and `delayMs` have passed since the last one
   * ended. An aborted `signal` stops the wait and throws its reason.
   */
  run<T>(host: string, delayMs: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.#tails.get(host) ?? Promise.resolve();
    const result = previous.then(async () => {
      const wait = (this.#readyAt.get(host) ?? 0) - Date.now();
      if (wait > 0) await pause(wait, signal);
      signal?.throwIfAborted();
      try {
        return await fn();
      } finally {
        this.#readyAt.set(host, Date.now() + delayMs);
      }
    });
    const tail = result.then(() => {}, () => {});
    this.#tails.set(host, tail);
    void tail.then(() => {
      if (this.#tails.get(host) !== tail) return;
      this.#tails.delete(host);
      // The pause still applies to the next call; forget the host once it has passed.
      const readyAt = this.#readyAt.get(host) ?? 0;
      if (readyAt <= Date.now()) this.#readyAt.delete(host);
    });
    return result;
  }
}

/** The process's pacer, shared by every web source that is not given its own. */
export const sharedHostPacer = new HostPacer();

/** Waits `ms`; rejects with the signal's reason when it fires first. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await sleep(ms, signal);
  signal?.throwIfAborted();
}
