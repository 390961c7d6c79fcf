/** Waiting for a promise at most so long: the two ways the codebase bounds a wait. */
import { sleep } from "./sleep.ts";

/** `p`, or a rejection `no answer within <ms> ms` when it takes longer; leaves no timer behind. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Waits for `p` at most `ms` (less when `signal` fires). Resolves true when `p` settled in time;
 * never rejects, and leaves no timer behind.
 */
export async function settlesWithin(
  p: Promise<unknown> | undefined,
  ms: number,
  { signal }: { signal?: AbortSignal } = {},
): Promise<boolean> {
  if (!p) return true;
  const stop = new AbortController();
  const timeout = sleep(ms, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal)
    .then(() => false);
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    stop.abort();
  }
}
