/**
 * A counting semaphore. The worker guards embedding with one of `EMBEDDING_CONCURRENCY_PER_WORKER`
 * permits so that concurrent jobs do not run more model batches at once than GPU memory allows.
 */
export class Semaphore {
  readonly permits: number;
  #available: number;
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(
        `Cannot create semaphore: permits must be a positive integer, got ${permits}`,
      );
    }
    this.permits = permits;
    this.#available = permits;
  }

  /** Permits free now. */
  get available(): number {
    return this.#available;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Waits for a permit and returns the function that gives it back (call it once). Rejects with
   * the signal's reason when `signal` fires first, holding nothing.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#available > 0) {
      this.#available--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          reject,
        };
        const onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#waiters.push(waiter);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      // The permit passes straight to the next waiter, so a newcomer cannot jump the queue.
      if (next) next.resolve();
      else this.#available++;
    };
  }

  /** Runs `fn` holding a permit. */
  async run<T>(fn: () => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
