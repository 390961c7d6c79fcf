/**
 * Cancel and retry, as the API calls them.
 *
 * Cancel: an operation whose job is not running (waiting, in the delayed set for a retry or a
 * postponement, or gone) is removed from its queue and ends `cancelled` here and now, so it never
 * runs again: a job postponed for an hour must not keep the cancel waiting that long. A running
 * one is flagged in Postgres and its worker is told over pub/sub; the handler stops at its next
 * checkpoint and ends `cancelled`.
 *
 * Retry: a new operation with the same type and config, for a failed or cancelled one.
 */
import {
  AppError,
  getOwnedOperation,
  isTerminal,
  listActiveOperationIds,
  type OperationFilter,
  type OperationJson,
  type OperationRow,
  publishCancel,
  requestCancel,
  type Runtime,
  TaskContext,
  toOperationJson,
  webhookOutboxFor,
} from "@semantik/shared";
import { type CollectionDeps, startOperation } from "../collections/collections.ts";

type ControlRuntime = Pick<Runtime, "db" | "redis" | "events" | "queues" | "log"> & {
  /** Webhook delivery settings; without them the sweep enqueues a cancel's deliveries. */
  config?: Runtime["config"];
};

/** Which operation, and the user who must own it. */
export interface OwnedOperationOptions {
  /** The user who must own the operation. */
  userId: string;
  /** The operation's id. */
  operationId: string;
}

export async function cancelOperation(
  rt: ControlRuntime,
  { userId, operationId }: OwnedOperationOptions,
): Promise<OperationJson> {
  const op = await getOwnedOperation(rt.db, { userId, operationId });
  const finished = () =>
    new AppError("conflict", `Operation ${operationId} already finished (${op.status})`);
  if (isTerminal(op.status)) throw finished();
  const flagged = await requestCancel(rt.db, operationId);
  if (!flagged) throw finished();
  // Never forced: a running job is its worker's to stop (the flag and the message below).
  const removed = await rt.queues.removeJob(operationId).catch((err) => {
    rt.log.warn("cannot remove a cancelled operation's job", { operation_id: operationId, err });
    return undefined;
  });
  if (removed && (removed.removed || removed.state === null)) {
    const ctx = new TaskContext(
      {
        db: rt.db,
        events: rt.events,
        log: rt.log,
        webhooks: rt.config && webhookOutboxFor({ ...rt, config: rt.config }),
      },
      flagged,
    );
    await ctx.cancelled(flagged.status === "pending" ? "Cancelled before it started" : "Cancelled");
    return toOperationJson(ctx.operation as OperationRow);
  }
  await publishCancel(rt.redis, { channel: rt.events.keys.cancelChannel, operationId });
  return toOperationJson(flagged);
}

/**
 * Cancels each of the user's active operations that match `filter`, one by one through
 * {@link cancelOperation} (so events and workers behave as for a single cancel): the number
 * cancelled. One that finished in the meantime is not counted.
 */
export async function cancelMatchingOperations(
  rt: ControlRuntime,
  { userId, filter }: { userId: string; filter: OperationFilter },
): Promise<{ cancelled: number }> {
  const ids = await listActiveOperationIds(rt.db, { ownerId: userId, filter });
  let cancelled = 0;
  for (const id of ids) {
    try {
      await cancelOperation(rt, { userId, operationId: id });
      cancelled++;
    } catch (err) {
      if (err instanceof AppError && (err.code === "conflict" || err.code === "not_found")) {
        continue;
      }
      throw err;
    }
  }
  return { cancelled };
}

export async function retryOperation(
  deps: CollectionDeps,
  { userId, operationId }: OwnedOperationOptions,
): Promise<OperationJson> {
  const op = await getOwnedOperation(deps.db, { userId, operationId });
  if (op.status !== "failed" && op.status !== "cancelled") {
    throw new AppError(
      "conflict",
      `Cannot retry operation ${operationId}: only failed or cancelled operations can be retried, ` +
        `this one is ${op.status}`,
    );
  }
  const [exists] = await deps.db.query<{ id: string }>("select id from collections where id = $1", [
    op.collection_id,
  ]);
  if (!exists) {
    throw new AppError(
      "conflict",
      `Cannot retry operation ${operationId}: its collection ${op.collection_id} no longer exists`,
    );
  }
  const created = await startOperation(deps, {
    userId,
    collectionId: op.collection_id,
    type: op.type,
    prepare: () => Promise.resolve({ ...op.config, retry_of: op.id }),
  });
  return toOperationJson(created);
}
