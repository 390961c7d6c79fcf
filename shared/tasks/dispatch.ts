/** Enqueues an operation's job: the task of its type, job id = operation id (a re-enqueue is a no-op). */
import type { QueueClient } from "../queue/queue_client.ts";
import type { OperationRow, OperationType } from "../operations/operation_types.ts";
import {
  deleteCollectionTask,
  processSourceTask,
  reindexTask,
  removeSourceTask,
  syncCollectionTask,
} from "./definitions.ts";

export const TASK_FOR_OPERATION = {
  index: processSourceTask,
  append: processSourceTask,
  remove_source: removeSourceTask,
  sync: syncCollectionTask,
  reindex: reindexTask,
  delete: deleteCollectionTask,
} as const satisfies Record<OperationType, unknown>;

/** Options of {@link dispatchOperation}. */
export interface DispatchOptions {
  /** The request that started the operation: the job carries it so its log lines name it. @default {none} */
  requestId?: string;
}

export async function dispatchOperation(
  queues: QueueClient,
  op: Pick<OperationRow, "id" | "type">,
  options: DispatchOptions = {},
): Promise<{ created: boolean }> {
  const task = TASK_FOR_OPERATION[op.type];
  const meta = options.requestId ? { request_id: options.requestId } : undefined;
  const res = await queues.enqueue(task, { operation_id: op.id }, { jobId: op.id, meta });
  return { created: res.created };
}
