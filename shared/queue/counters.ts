/** In-process counters of what a queue or worker did, for `/metrics` and tests. */

export const COUNTER_NAMES = [
  "enqueued",
  "started",
  "completed",
  "failed",
  "retried",
  "postponed",
  "dead",
  "reclaimed",
  "leaseLost",
  "aborted",
  /** Read ahead and given back to the stream unstarted (at close, or stuck behind a long handler). */
  "handedBack",
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type CounterSnapshot = Record<CounterName, number>;

export class QueueCounters {
  readonly #values: CounterSnapshot = Object.fromEntries(
    COUNTER_NAMES.map((n) => [n, 0]),
  ) as CounterSnapshot;

  inc(name: CounterName, by = 1): void {
    this.#values[name] += by;
  }

  get(name: CounterName): number {
    return this.#values[name];
  }

  /** A copy of every counter. */
  snapshot(): CounterSnapshot {
    return { ...this.#values };
  }
}
