/**
 * Retry delays: exponential (or fixed) with jitter. The jitter only ever shortens a delay, by at
 * most half, so with the default jitter every retry waits at least as long as the one before:
 * attempt n waits in [d/2, d] with d = base * 2^(n-1), and [d, 2d] comes next. Calls that retry a
 * flaky backend instead ask for full jitter (`{ full: true }`): anywhere in [0, d), which spreads
 * many clients' retries best but lets a delay shrink.
 */
import { z } from "zod";

/** How long a failed job waits before its next attempt. */
export interface BackoffOptions {
  /** `exponential` doubles the delay after each failed attempt. @default {"exponential"} */
  type?: "exponential" | "fixed";
  /** Delay after the first failed attempt, in ms. @default {1000} */
  delayMs?: number;
  /** Upper bound of a delay, in ms. @default {300000} */
  maxDelayMs?: number;
  /** Fraction (0 to 0.5) of a delay that is random: the delay is in `[d * (1 - jitter), d]`. @default {0.5} */
  jitter?: number;
}

export const backoffSchema = z.object({
  type: z.enum(["exponential", "fixed"]).default("exponential"),
  delayMs: z.number().int().min(0).max(7 * 24 * 3600_000).default(1000),
  maxDelayMs: z.number().int().min(0).max(7 * 24 * 3600_000).default(300_000),
  jitter: z.number().min(0).max(0.5).default(0.5),
});

export type Backoff = z.output<typeof backoffSchema>;

/** Validates and fills in `options`. Throws a RangeError naming the bad field. */
export function resolveBackoff(options: BackoffOptions = {}): Backoff {
  const r = backoffSchema.safeParse(options);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new RangeError(
      `Cannot use backoff: ${i.path.join(".")} ${i.message}, got ${JSON.stringify(options)}`,
    );
  }
  return r.data;
}

/** Options of {@link backoffDelay}. */
export interface BackoffDelayOptions {
  /** A source of numbers in [0, 1); injectable for tests. @default {Math.random} */
  random?: () => number;
  /**
   * Full jitter: the delay is `floor(d * random())`, in [0, d), and the backoff's own `jitter` is
   * not used. @default {false}
   */
  full?: boolean;
}

/** The delay before the attempt after failed attempt `attempt` (1-based). */
export function backoffDelay(
  attempt: number,
  backoff: Backoff,
  options: BackoffDelayOptions = {},
): number {
  const { random = Math.random, full = false } = options;
  const n = Math.max(1, Math.floor(attempt));
  const base = backoff.type === "fixed"
    ? backoff.delayMs
    : backoff.delayMs * 2 ** Math.min(n - 1, 52);
  const d = Math.min(backoff.maxDelayMs, base);
  if (full) return Math.floor(d * random());
  return Math.round(d * (1 - backoff.jitter * random()));
}
