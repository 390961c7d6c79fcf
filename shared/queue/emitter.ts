/**
 * A small typed event emitter. Listeners run synchronously in registration order; one that throws
 * is reported to `onListenerError` and does not stop the others or the caller: events report,
 * they never break the loop that emits them.
 */

// deno-lint-ignore no-explicit-any
export type Listener<T> = (event: T) => any;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  readonly #onListenerError: (err: unknown, event: keyof Events) => void;

  constructor(onListenerError: (err: unknown, event: keyof Events) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Resolves with the next `event` that satisfies `filter`, or rejects when `signal` fires. */
  once<K extends keyof Events>(
    event: K,
    filter: (e: Events[K]) => boolean = () => true,
    signal?: AbortSignal,
  ): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      const off = this.on(event, (e) => {
        if (!filter(e)) return;
        off();
        signal?.removeEventListener("abort", onAbort);
        resolve(e);
      });
      const onAbort = () => {
        off();
        reject(signal!.reason);
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  hasListeners(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const l of [...set]) {
      try {
        const r = (l as Listener<Events[K]>)(payload);
        if (r instanceof Promise) r.catch((err) => this.#onListenerError(err, event));
      } catch (err) {
        this.#onListenerError(err, event);
      }
    }
  }
}
