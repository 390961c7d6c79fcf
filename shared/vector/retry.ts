/**
 * Retries with exponential backoff and full jitter, for calls to a vector backend that may fail
 * briefly (a restarting Qdrant, a 503 from a proxy, a rate limit). What counts as transient is
 * the caller's decision. The delays are `shared/async/backoff.ts`'s, with full jitter.
 */
import { type Backoff, backoffDelay } from "../async/backoff.ts";

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Attempts in all, the first one included. @default {5} */
  maxAttempts?: number;
  /** Upper bound of the first delay; each retry doubles it, with full jitter. @default {100} */
  baseDelayMs?: number;
  /** Upper bound of any delay, also of a server's retry-after. @default {5000} */
  maxDelayMs?: number;
  /**
   * Tells whether `err` is worth another attempt: `false` to give up, `true` to back off, or a
   * number of milliseconds the server asked to wait. @default {() => false}
   */
  retryable?: (err: unknown) => boolean | number;
  /** Called before each wait, for logging. @default {undefined} */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting and rethrows the last error. @default {undefined} */
  signal?: AbortSignal;
  /** Source of jitter in [0, 1). @default {Math.random} */
  random?: () => number;
}

/** Runs `fn` until it resolves, it throws a non-retryable error, or attempts run out. */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const {
    maxAttempts = 5,
    baseDelayMs = 100,
    maxDelayMs = 5000,
    retryable = () => false,
    onRetry,
    signal,
    random = Math.random,
  } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(
      `Cannot retry: maxAttempts must be a positive integer, got ${maxAttempts}`,
    );
  }
  if (!(baseDelayMs >= 0) || !(maxDelayMs >= 0)) {
    throw new RangeError(
      `Cannot retry: delays must be non-negative, got ${baseDelayMs} and ${maxDelayMs}`,
    );
  }
  const backoff: Backoff = { type: "exponential", delayMs: baseDelayMs, maxDelayMs, jitter: 0 };
  for (let attempt = 1;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const verdict = retryable(err);
      if (verdict === false || attempt >= maxAttempts || signal?.aborted) throw err;
      const delayMs = typeof verdict === "number"
        ? Math.min(maxDelayMs, Math.max(0, verdict))
        : backoffDelay(attempt, backoff, { random, full: true });
      onRetry?.(err, attempt, delayMs);
      if (!(await wait(delayMs, signal))) throw err;
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
