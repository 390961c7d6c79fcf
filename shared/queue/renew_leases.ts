/**
 * The lease part of a queue worker: one `renew_leases` script call per 1000 held entries, each
 * renewed only after the script checked it is still this consumer's (`XPENDING`), so a renewal
 * never steals back an entry another worker reclaimed.
 */
import type { QueueScripts } from "./scripts.ts";

/** Options of {@link renewLeases}. */
export interface RenewLeasesOptions {
  stream: string;
  group: string;
  consumer: string;
  /** The entries this consumer holds and wants to keep. */
  entryIds: readonly string[];
}

/** Why a lease was lost: another consumer holds the entry, or it is gone (acked, deleted). */
export type LeaseLoss = "taken" | "gone";

/** Renews the leases of `entryIds`; returns the entries whose lease is lost, with why. */
export async function renewLeases(
  scripts: QueueScripts,
  options: RenewLeasesOptions,
): Promise<Map<string, LeaseLoss>> {
  const { stream, group, consumer, entryIds } = options;
  const lost = new Map<string, LeaseLoss>();
  for (let i = 0; i < entryIds.length; i += 1000) {
    const chunk = entryIds.slice(i, i + 1000);
    const results = await scripts.renewLeases([stream], [group, consumer, ...chunk]);
    chunk.forEach((entryId, j) => {
      const r = results[j];
      if (r !== 1) lost.set(entryId, r === -1 ? "taken" : "gone");
    });
  }
  return lost;
}
