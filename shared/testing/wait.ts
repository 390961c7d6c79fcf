/**
 * Waits in tests. Every wait has a deadline tied to what it waits for and fails saying what it
 * waited for and what it saw last. The deadlines only guard against a hanging test on a loaded
 * machine; they are never a speed check, but they are short enough that a broken guard fails its
 * test within seconds instead of a minute.
 */
import { inspect } from "node:util";

/**
 * Default deadline of {@link waitFor}: something a test caused in this process or in Redis or
 * Postgres (a job picked up, an event fanned out, a frame sent). Lease and retry settings in the
 * tests are well under a second, so a few seconds is generous even on a loaded machine.
 */
export const WAIT_MS = 5_000;

/**
 * Deadline for a spawned process (API, worker, scheduler, `deno task dev`) to start and print
 * its ready line: module loading and a cold JIT on a loaded machine, not work the test caused.
 */
export const PROCESS_START_MS = 30_000;

/**
 * Deadline for a whole indexing operation (scan, extract, embed with the tiny model, write
 * vectors) run by an in-process or spawned worker: it covers the embedding model's first load.
 */
export const OPERATION_MS = 60_000;

/** Describes a value for a failure message, short. */
export function describeSeen(v: unknown): string {
  if (v instanceof Error) return `error ${v.message}`;
  const s = inspect(v, { depth: 4, breakLength: Infinity });
  return s.length > 600 ? `${s.slice(0, 600)}...` : s;
}

/**
 * Polls `check` until it returns a truthy value and returns that. Gives up after `timeoutMs`
 * ({@link WAIT_MS} unless told) with an error naming `what` and what was seen last: the value of
 * `seen()` when given (called once, at the end), else the last value `check` returned.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; seen?: () => unknown } = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = WAIT_MS, intervalMs = 20 } = options;
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) {
      let last: unknown = v;
      if (options.seen) {
        try {
          last = await options.seen();
        } catch (err) {
          last = err;
        }
      }
      throw new Error(
        `Gave up waiting for ${what} after ${
          Date.now() - started
        } ms (deadline ${timeoutMs} ms); ` +
          `last saw: ${describeSeen(last)}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
