/**
 * Starts the lexical backfill of collections that migration 0010 marked (`lexical_ready =
 * false`: indexed before hybrid search): one `reindex` operation with config
 * `{"lexical_only": true}` each, recorded through `insertOperation` and enqueued, so it runs,
 * reports progress over the WebSocket, can be cancelled and retried like any operation.
 *
 * Runs at each worker's start and with each `sync.check_continuous_sync` tick (every 5 minutes by
 * default), so a collection that is busy now (another operation active) gets its backfill once
 * it is free, and several workers starting at once start one backfill per collection (the
 * one-active-operation index refuses the others). A collection whose backfill failed or was
 * cancelled is not started again automatically: the user retries it (`POST
 * /api/v2/operations/{id}/retry`, or `POST /api/v2/collections/{id}/reindex` with
 * `{"lexical_only": true}`).
 */
import {
  AppError,
  type Db,
  dispatchOperation,
  insertOperation,
  type Logger,
  type QueueClient,
} from "@semantik/shared";

export interface StartLexicalBackfillsDeps {
  db: Db;
  queues: QueueClient;
  log: Logger;
}

export interface StartLexicalBackfillsResult {
  /** Marked collections without a backfill that failed or was cancelled. */
  marked: number;
  started: number;
  /** Marked collections with another operation active: started on a later call. */
  busy: number;
  /** Started operations whose job could not be enqueued now (reconcile enqueues them later). */
  dispatch_failed: number;
  operation_ids: string[];
}

export async function startLexicalBackfills(
  deps: StartLexicalBackfillsDeps,
  options: { limit?: number } = {},
): Promise<StartLexicalBackfillsResult> {
  const { limit = 1000 } = options;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(
      `Cannot start lexical backfills: limit must be a positive integer, got ${limit}`,
    );
  }
  const marked = await deps.db.query<{ id: string; owner_id: string }>(
    `select c.id, c.owner_id from collections c
      where not c.lexical_ready and c.status <> 'deleting'
        and not exists (
          select 1 from operations o
           where o.collection_id = c.id and o.type = 'reindex'
             and o.config ->> 'lexical_only' = 'true'
             and o.status in ('pending', 'processing', 'failed', 'cancelled'))
      order by c.created_at, c.id limit $1`,
    [limit],
  );
  const result: StartLexicalBackfillsResult = {
    marked: marked.length,
    started: 0,
    busy: 0,
    dispatch_failed: 0,
    operation_ids: [],
  };
  for (const c of marked) {
    let op;
    try {
      op = await insertOperation(deps.db, {
        collectionId: c.id,
        ownerId: c.owner_id,
        type: "reindex",
        config: { lexical_only: true },
      });
    } catch (err) {
      if (err instanceof AppError && err.code === "conflict") {
        result.busy++;
        continue;
      }
      throw err;
    }
    result.started++;
    result.operation_ids.push(op.id);
    try {
      await dispatchOperation(deps.queues, op);
    } catch (err) {
      result.dispatch_failed++;
      deps.log.warn("lexical backfill saved but not enqueued; reconcile will retry", {
        operation_id: op.id,
        collection_id: c.id,
        err,
      });
    }
  }
  if (result.marked > 0) {
    deps.log.info("lexical backfills checked", { ...result, operation_ids: undefined });
  }
  return result;
}
