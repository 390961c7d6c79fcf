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
import type { Runtime } from "../runtime/runtime.ts";
import { AppError } from "../errors.ts";
import { getOwnedOperation } from "../operations/operations.ts";
import {
  isTerminal,
  type OperationJson,
  type OperationRow,
  toOperationJson,
} from "../operations/operation_types.ts";
import { type CollectionDeps, startOperation } from "../collections/collections.ts";
import { TaskContext } from "./task_context.ts";
import { publishCancel } from "./cancel_listener.ts";

type ControlRuntime = Pick<Runtime, "db" | "redis" | "events" | "queues" | "log">;

export async function cancelOperation(
  rt: ControlRuntime,
  userId: string,
  operationId: string,
): Promise<OperationJson> {
  const op = await getOwnedOperation(rt.db, userId, operationId);
  const finished = () =>
    new AppError("conflict", `Operation ${operationId} already finished (${op.status})`);
  if (isTerminal(op.status)) throw finished();
  const [flagged] = await rt.db.query<OperationRow>(
    `update operations set cancel_requested_at = coalesce(cancel_requested_at, now()),
            updated_at = now()
      where id = $1 and status in ('pending', 'processing') returning *`,
    [operationId],
  );
  if (!flagged) throw finished();
  // Never forced: a running job is its worker's to stop (the flag and the message below).
  const removed = await rt.queues.removeJob(operationId).catch((err) => {
    rt.log.warn("cannot remove a cancelled operation's job", { operation_id: operationId, err });
    return undefined;
  });
  if (removed && (removed.removed || removed.state === null)) {
    const ctx = new TaskContext({ db: rt.db, events: rt.events, log: rt.log }, flagged);
    await ctx.cancelled(flagged.status === "pending" ? "Cancelled before it started" : "Cancelled");
    return toOperationJson(ctx.operation as OperationRow);
  }
  await publishCancel(rt.redis, rt.events.keys.cancelChannel, operationId);
  return toOperationJson(flagged);
}

export async function retryOperation(
  deps: CollectionDeps,
  userId: string,
  operationId: string,
): Promise<OperationJson> {
  const op = await getOwnedOperation(deps.db, userId, operationId);
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
  const created = await startOperation(
    deps,
    userId,
    op.collection_id,
    op.type,
    () => Promise.resolve({ ...op.config, retry_of: op.id }),
  );
  return toOperationJson(created);
}
