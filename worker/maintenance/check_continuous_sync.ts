/**
 * `sync.check_continuous_sync`: starts one `sync` operation for each collection with
 * `sync_mode = continuous` whose `next_sync_at` has come, and moves `next_sync_at` on by
 * `sync_interval_minutes`. A collection that is busy (another write operation is active) stays
 * due, so the next check starts its sync once the collection is free. A continuous collection
 * without sources has nothing to sync: its next due time moves on. A paused collection
 * (`sync_paused`) is skipped and stays due, with a log line naming it: once resumed, the next
 * check syncs it.
 *
 * Each collection is handled in its own transaction (row locked, due-ness checked again), so two
 * checks running at once, or a PATCH changing the schedule meanwhile, never start two syncs: the
 * one-active-operation index makes the second insert a conflict.
 */
import {
  AppError,
  type Db,
  dispatchOperation,
  insertOperation,
  type Logger,
  type OperationRow,
  type QueueClient,
} from "@semantik/shared";

/** What {@link checkContinuousSync} works with. */
export interface CheckContinuousSyncDeps {
  db: Db;
  /** Enqueues the sync operations' jobs. */
  queues: QueueClient;
  log: Logger;
}

/** Options of {@link checkContinuousSync}. */
export interface CheckContinuousSyncOptions {
  /** The scheduler tick this check belongs to, recorded in each operation's config. @default {undefined} */
  tick?: string;
  /** Most collections handled in one call; the rest wait for the next check. @default {1000} */
  limit?: number;
}

/** What a check did. */
export interface CheckContinuousSyncResult {
  /** Continuous collections that were due. */
  due: number;
  /** Sync operations started. */
  started: number;
  /** Due collections with another operation active: left due. */
  busy: number;
  /** Due collections without a source: next due time moved on, nothing started. */
  no_source: number;
  /** Due collections whose sync is paused: skipped, left due. */
  paused: number;
  /** Ids of the paused collections skipped. */
  paused_ids: string[];
  /** Started operations whose job could not be enqueued now (reconcile enqueues them later). */
  dispatch_failed: number;
  /** Ids of the started operations. */
  operation_ids: string[];
}

interface DueCollection {
  id: string;
  owner_id: string;
  sources: number;
  sync_paused: boolean;
}

type Outcome =
  | { kind: "started"; op: OperationRow }
  | { kind: "busy" | "no_source" | "not_due" | "paused" };

export async function checkContinuousSync(
  deps: CheckContinuousSyncDeps,
  options: CheckContinuousSyncOptions = {},
): Promise<CheckContinuousSyncResult> {
  const { tick, limit = 1000 } = options;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(
      `Cannot check continuous sync: limit must be a positive integer, got ${limit}`,
    );
  }
  const log = deps.log.child({ task: "sync.check_continuous_sync" });
  const due = await deps.db.query<{ id: string }>(
    `select id from collections
      where sync_mode = 'continuous' and next_sync_at <= now() and status <> 'deleting'
      order by next_sync_at, id limit $1`,
    [limit],
  );
  const result: CheckContinuousSyncResult = {
    due: due.length,
    started: 0,
    busy: 0,
    no_source: 0,
    paused: 0,
    paused_ids: [],
    dispatch_failed: 0,
    operation_ids: [],
  };
  for (const { id } of due) {
    const outcome = await startDueSync(deps.db, id, tick);
    if (outcome.kind === "not_due") {
      result.due--;
      continue;
    }
    if (outcome.kind === "paused") {
      result.due--;
      result.paused++;
      result.paused_ids.push(id);
      log.info("continuous sync skipped: the collection's sync is paused", { collection_id: id });
      continue;
    }
    if (outcome.kind !== "started") {
      result[outcome.kind]++;
      continue;
    }
    const op = outcome.op;
    result.started++;
    result.operation_ids.push(op.id);
    try {
      await dispatchOperation(deps.queues, op);
    } catch (err) {
      // The operation is saved as pending; reconcile enqueues it once Redis answers again.
      result.dispatch_failed++;
      log.warn("sync operation saved but its job could not be enqueued; reconcile will retry", {
        operation_id: op.id,
        collection_id: id,
        err,
      });
    }
  }
  if (result.due > 0) {
    log.info("continuous sync checked", {
      ...result,
      operation_ids: undefined,
      paused_ids: undefined,
    });
  }
  return result;
}

/** Starts the sync of collection `id` if it is still due, in one transaction. */
function startDueSync(db: Db, id: string, tick: string | undefined): Promise<Outcome> {
  return db.transaction(async (tx): Promise<Outcome> => {
    const [c] = await tx.query<DueCollection>(
      `select c.id, c.owner_id, c.sync_paused,
              (select count(*) from collection_sources s where s.collection_id = c.id) as sources
         from collections c
        where c.id = $1 and c.sync_mode = 'continuous' and c.next_sync_at <= now()
          and c.status <> 'deleting'
          for update of c`,
      [id],
    );
    if (!c) return { kind: "not_due" };
    // Paused: skipped and left due, so the first check after a resume syncs it.
    if (c.sync_paused) return { kind: "paused" };
    const advance = () =>
      tx.query(
        `update collections set next_sync_at = now() + make_interval(mins => sync_interval_minutes)
          where id = $1`,
        [id],
      );
    if (Number(c.sources) === 0) {
      await advance();
      return { kind: "no_source" };
    }
    let op: OperationRow;
    try {
      op = await insertOperation(tx, {
        collectionId: c.id,
        ownerId: c.owner_id,
        type: "sync",
        config: tick ? { trigger: "schedule", tick } : { trigger: "schedule" },
      });
    } catch (err) {
      // Busy: another write operation holds the collection. Leave it due.
      if (err instanceof AppError && err.code === "conflict") return { kind: "busy" };
      throw err;
    }
    await advance();
    return { kind: "started", op };
  });
}
