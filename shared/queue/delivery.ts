/**
 * A delivery: one stream entry of a job, as a worker got it (read, claimed or redelivered),
 * parsed from the entry's fields (`id n d a x b t m k p`, see README.md).
 */
import { type Backoff, resolveBackoff } from "../async/backoff.ts";
import { fieldMap } from "./_util.ts";

/** A job's stream entry, parsed. */
export interface Delivery {
  entryId: string;
  jobId: string;
  name: string;
  data: string;
  attempt: number;
  maxAttempts: number;
  backoff: Backoff;
  enqueuedAt: number;
  metaText: string | undefined;
  dedupKey: string | undefined;
  postpones: number;
}

/**
 * Parses entry `entryId`'s fields; `undefined` when they carry no job (deleted while pending, or
 * malformed). `backoffCache` keeps resolved backoffs by their text (at most 100).
 */
export function parseDelivery(
  entryId: string,
  { fields, backoffCache }: { fields: unknown; backoffCache: Map<string, Backoff> },
): Delivery | undefined {
  const f = fieldMap(fields);
  const jobId = f.get("id");
  const name = f.get("n");
  if (!jobId || !name) return undefined;
  const b = f.get("b") ?? "{}";
  let backoff = backoffCache.get(b);
  if (!backoff) {
    try {
      backoff = resolveBackoff(JSON.parse(b));
    } catch {
      backoff = resolveBackoff({});
    }
    if (backoffCache.size < 100) backoffCache.set(b, backoff);
  }
  return {
    entryId,
    jobId,
    name,
    data: f.get("d") ?? "null",
    attempt: Number(f.get("a") ?? 1),
    maxAttempts: Number(f.get("x") ?? 1),
    backoff,
    enqueuedAt: Number(f.get("t") ?? 0),
    metaText: f.get("m"),
    dedupKey: f.get("k"),
    postpones: Number(f.get("p") ?? 0),
  };
}
