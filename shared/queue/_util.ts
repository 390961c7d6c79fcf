/** Small helpers of the queue library (private). */

/** Resolves after `ms`, or at once when `signal` fires; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** `[k1, v1, k2, v2, ...]` (or a RESP3 map, as a Map or an object) as a Map of strings. */
export function fieldMap(fields: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(fields)) {
    for (let i = 0; i + 1 < fields.length; i += 2) m.set(String(fields[i]), String(fields[i + 1]));
  } else if (fields instanceof Map) {
    for (const [k, v] of fields) m.set(String(k), String(v));
  } else if (fields && typeof fields === "object") {
    for (const [k, v] of Object.entries(fields)) m.set(k, String(v));
  }
  return m;
}

const MAX_ERROR = 4000;

/** A readable, bounded message for anything thrown. */
export function errorMessage(err: unknown): string {
  let msg: string;
  if (err instanceof Error) msg = err.message || err.name;
  else if (typeof err === "string") msg = err;
  else {
    try {
      msg = JSON.stringify(err) ?? String(err);
    } catch {
      msg = String(err);
    }
  }
  return msg.length > MAX_ERROR ? msg.slice(0, MAX_ERROR) + "…" : msg;
}

/** `err` as an Error (wrapping what is not one). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}

/** Whether a Redis error says the stream or its consumer group does not exist (after a flush). */
export function isNoGroup(err: unknown): boolean {
  return err instanceof Error &&
    (err.message.startsWith("NOGROUP") || err.message.startsWith("UNBLOCKED"));
}

/** This host's name, or `unknown` without the permission to read it. */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Parses a JSON text that may be empty (`undefined`). */
export function parseOptionalJson(text: string | undefined): unknown {
  if (text === undefined || text === "") return undefined;
  return JSON.parse(text);
}

/**
 * Waits for `p` at most `ms` (less when `signal` fires). Resolves true when `p` settled in time;
 * never rejects, and leaves no timer behind.
 */
export async function settlesWithin(
  p: Promise<unknown> | undefined,
  ms: number,
  signal?: AbortSignal,
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
