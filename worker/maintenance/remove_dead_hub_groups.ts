/**
 * Removes the consumer groups of API processes that are gone from the global events streams (one
 * per partition, `{ops:<p>}:events`).
 *
 * Each API process's hub (api/ws/operation_hub.ts) reads every partition's stream through a
 * consumer group of its own, `hub:<hubId>` (the same name on each), and keeps a heartbeat key, `EventKeys.hubHeartbeat(hubId)`, alive
 * while it runs (set before the group is created). A hub group whose heartbeat key is gone
 * belongs to a process that stopped without removing it. Groups are cheap, but each one shows up
 * in every XINFO, and a crash-looping deployment would leave one per restart. Groups not named
 * `hub:<id>` are someone else's and are left alone.
 *
 * A group is kept, heartbeat or not, while one of its consumers read within `graceMs` (a hub
 * whose beat is late but which still reads), or, with no consumer yet, while its start is that
 * recent. A hub whose group was removed by mistake creates it again on its next read
 * (`NOGROUP`), as after a Redis flush.
 */
import type { Redis } from "ioredis";
import { type EventKeys, hubIdOfGroup } from "@semantik/shared";

/** Options of {@link removeDeadHubGroups}. */
export interface RemoveDeadHubGroupsOptions {
  /** A group with a consumer active this recently, or created this recently, is kept, in ms. @default {60000} */
  graceMs?: number;
  /** The current time, in ms since the epoch (Redis stream ids are times). @default {Date.now()} */
  now?: number;
}

/**
 * Removes the groups of hubs that are gone from every partition's stream; returns the groups'
 * names (a name once, however many partitions had it).
 */
export async function removeDeadHubGroups(
  redis: Redis,
  keys: EventKeys,
  options: RemoveDeadHubGroupsOptions = {},
): Promise<string[]> {
  const removed = new Set<string>();
  for (let p = 0; p < keys.partitions; p++) {
    for (const name of await removeDeadGroupsOf(redis, keys, keys.global(p), options)) {
      removed.add(name);
    }
  }
  return [...removed];
}

async function removeDeadGroupsOf(
  redis: Redis,
  keys: EventKeys,
  stream: string,
  options: RemoveDeadHubGroupsOptions,
): Promise<string[]> {
  const { graceMs = 60_000, now = Date.now() } = options;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(
      `Cannot remove hub groups: graceMs must be a non-negative number, got ${graceMs}`,
    );
  }
  let groups: unknown[];
  try {
    groups = await redis.call("XINFO", ["GROUPS", stream]) as unknown[];
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const g of groups) {
    const info = fields(g);
    const name = info.get("name");
    if (name === undefined) continue;
    const hubId = hubIdOfGroup(name);
    if (hubId === undefined) continue;
    const heartbeat = keys.hubHeartbeat(hubId);
    if (await redis.exists(heartbeat) === 1) continue;
    const consumers = (await redis.call("XINFO", ["CONSUMERS", stream, name]) as unknown[])
      .map(fields);
    if (consumers.some((c) => Number(c.get("idle") ?? Infinity) < graceMs)) continue;
    if (consumers.length === 0) {
      // Created at `$`: its last-delivered id is the stream's last entry when it was created.
      const lastMs = Number((info.get("last-delivered-id") ?? "0-0").split("-")[0]);
      if (now - lastMs < graceMs) continue;
    }
    // Checked again just before: a hub that came back meanwhile keeps its group.
    if (await redis.exists(heartbeat) === 1) continue;
    const n = Number(await redis.call("XGROUP", ["DESTROY", stream, name]));
    if (n > 0) removed.push(name);
  }
  return removed;
}

function fields(reply: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), String(reply[i + 1]));
  }
  return m;
}
