/**
 * `maintenance.cleanup_operations` (daily): removes what the system no longer needs, and nothing
 * else.
 *
 * - Finished operations (`completed`, `failed`, `cancelled`) that finished more than
 *   `OPERATION_RETENTION_DAYS` ago, with their event streams and id counters. Active operations
 *   are never touched, whatever their age.
 * - Event streams and counters of operations that no longer exist (an operation's stream that
 *   outlived its row); streams of existing operations are kept.
 * - The global events streams (one per partition) trimmed by age; every API hub reads them
 *   live, so old entries only take memory.
 * - Dead letters older than the retention.
 * - Queue consumers idle for more than an hour with nothing pending that are not live workers
 *   (a worker that is gone leaves its consumer in the group).
 * - Consumer groups of API processes that are gone ({@link removeDeadHubGroups}).
 */
import type { Redis } from "ioredis";
import {
  deleteFinishedOperations,
  type EventKeys,
  isUuid,
  type Logger,
  type Queryable,
  type QueueClient,
} from "@semantik/shared";
import { nodeForKey } from "@semantik/shared/redis";
import { removeDeadHubGroups } from "./remove_dead_hub_groups.ts";

/** What {@link cleanupOperations} works with. */
export interface CleanupDeps {
  db: Queryable;
  redis: Redis;
  queues: QueueClient;
  /** Keys of the event streams. */
  eventKeys: EventKeys;
  log: Logger;
  /** Consumer names of the live workers: kept in every queue's group, however idle. */
  liveConsumers(): Promise<Iterable<string>>;
}

/** Options of {@link cleanupOperations}. */
export interface CleanupOptions {
  /** `OPERATION_RETENTION_DAYS`: finished operations and dead letters older than this go. @default {30} */
  retentionDays?: number;
  /** Entries of the global events stream older than this are trimmed, in ms. @default {86400000 (1 day)} */
  globalEventsMaxAgeMs?: number;
  /** Queue consumers idle at least this long (and with nothing pending) are removed, in ms. @default {3600000} */
  consumerIdleMs?: number;
  /** See {@link RemoveDeadHubGroupsOptions.graceMs}, in ms. @default {60000} */
  hubGroupGraceMs?: number;
  /** Operations deleted per statement. @default {500} */
  batchSize?: number;
  /** The current time, in ms since the epoch, for the Redis side (stream ids, dead letters). @default {Date.now} */
  clock?: () => number;
}

/** What a cleanup removed. */
export interface CleanupResult {
  operations_deleted: number;
  /** Event streams and id counters deleted (of deleted operations and of missing ones). */
  event_keys_deleted: number;
  global_events_trimmed: number;
  dead_letters_purged: number;
  consumers_removed: number;
  hub_groups_removed: number;
}

const DAY_MS = 24 * 3600_000;

export async function cleanupOperations(
  deps: CleanupDeps,
  options: CleanupOptions = {},
): Promise<CleanupResult> {
  const {
    retentionDays = 30,
    globalEventsMaxAgeMs = DAY_MS,
    consumerIdleMs = 3600_000,
    hubGroupGraceMs = 60_000,
    batchSize = 500,
    clock = Date.now,
  } = options;
  const positive = { retentionDays, globalEventsMaxAgeMs, batchSize };
  for (const [name, v] of Object.entries(positive)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot clean up: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isFinite(consumerIdleMs) || consumerIdleMs < 0) {
    throw new RangeError(
      `Cannot clean up: consumerIdleMs must be a non-negative number, got ${consumerIdleMs}`,
    );
  }
  const log = deps.log.child({ task: "maintenance.cleanup_operations" });
  const keys = deps.eventKeys;
  const result: CleanupResult = {
    operations_deleted: 0,
    event_keys_deleted: 0,
    global_events_trimmed: 0,
    dead_letters_purged: 0,
    consumers_removed: 0,
    hub_groups_removed: 0,
  };

  // 1. Old finished operations, a batch at a time, then their streams.
  for (;;) {
    const ids = await deleteFinishedOperations(deps.db, {
      olderThanDays: retentionDays,
      limit: batchSize,
    });
    if (ids.length === 0) break;
    result.operations_deleted += ids.length;
    result.event_keys_deleted += await unlinkEventKeys(deps.redis, keys, ids);
    if (ids.length < batchSize) break;
  }

  // 2. Streams whose operation is gone (deleted before step 1 reached Redis, say).
  result.event_keys_deleted += await removeOrphanEventKeys(deps, batchSize);

  // 3. The global streams of every partition, by age (entry ids are times).
  const minId = Math.max(0, Math.floor(clock() - globalEventsMaxAgeMs));
  for (let p = 0; p < keys.partitions; p++) {
    result.global_events_trimmed += Number(
      await deps.redis.call("XTRIM", [keys.global(p), "MINID", `${minId}-0`]),
    );
  }

  // 4. Dead letters past the retention, and consumers of workers that are gone, in every queue.
  const live = new Set(await deps.liveConsumers());
  const deadBefore = clock() - retentionDays * DAY_MS;
  for (const name of deps.queues.queueNames) {
    const queue = deps.queues.queue(name);
    result.dead_letters_purged += await queue.purgeDeadLetters(deadBefore, {
      limit: Number.MAX_SAFE_INTEGER,
    });
    const removed = await queue.removeIdleConsumers(live, { minIdleMs: consumerIdleMs });
    result.consumers_removed += removed.length;
    if (removed.length > 0) log.info("removed idle queue consumers", { queue: name, removed });
  }

  // 5. Consumer groups of API processes that are gone.
  const groups = await removeDeadHubGroups(deps.redis, keys, {
    graceMs: hubGroupGraceMs,
    now: clock(),
  });
  result.hub_groups_removed = groups.length;
  if (groups.length > 0) log.info("removed consumer groups of gone API processes", { groups });

  log.info("cleaned up", { ...result });
  return result;
}

async function unlinkEventKeys(redis: Redis, keys: EventKeys, ids: string[]): Promise<number> {
  let n = 0;
  // The keys of one partition share its hash tag, so one UNLINK may name many of them (Redis
  // Cluster too): batches by partition.
  const byPartition = new Map<number, string[]>();
  for (const id of ids) {
    const p = keys.partitionOf(id);
    const list = byPartition.get(p) ?? [];
    list.push(id);
    byPartition.set(p, list);
  }
  for (const group of byPartition.values()) {
    for (let i = 0; i < group.length; i += 250) {
      const batch = group.slice(i, i + 250).flatMap((id) => [keys.stream(id), keys.seq(id)]);
      n += await redis.unlink(...batch);
    }
  }
  return n;
}

/** Deletes the streams and counters of operations that have no row; returns how many keys. */
async function removeOrphanEventKeys(deps: CleanupDeps, batchSize: number): Promise<number> {
  const keys = deps.eventKeys;
  // `streamPrefix(p)` ends in `op:`; everything after it is an operation id. Same for `seq`.
  const families: string[] = [];
  for (let p = 0; p < keys.partitions; p++) {
    families.push(keys.streamPrefix(p), keys.seqPrefix(p));
  }
  let deleted = 0;
  for (const base of families) {
    const pattern = base.replace(/[*?[\]\\]/g, "\\$&") + "*";
    // Every event key of a partition lies in its slot: on a Redis Cluster SCAN goes to the master
    // that serves it (a cluster client sends a keyless SCAN to any node).
    const node = await nodeForKey(deps.redis, base);
    let cursor = "0";
    do {
      const [next, found] = await node.scan(cursor, "MATCH", pattern, "COUNT", batchSize);
      cursor = next;
      // Only keys named for an operation id are ours to judge.
      const ids = found.map((k) => k.slice(base.length)).filter(isUuid);
      if (ids.length === 0) continue;
      const existing = new Set(
        (await deps.db.query<{ id: string }>(
          "select id from operations where id = any($1::uuid[])",
          [ids],
        )).map((r) => r.id.toLowerCase()),
      );
      const orphans = ids.filter((id) => !existing.has(id.toLowerCase()));
      if (orphans.length > 0) {
        deleted += await deps.redis.unlink(...orphans.map((id) => base + id));
      }
    } while (cursor !== "0");
  }
  return deleted;
}
