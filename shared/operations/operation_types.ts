/** Operation records: their types, statuses, row shape and the API's JSON form. */

export const OPERATION_TYPES = [
  "index",
  "append",
  "remove_source",
  "sync",
  "reindex",
  "delete",
] as const;
export type OperationType = typeof OPERATION_TYPES[number];

export const OPERATION_STATUSES = [
  "pending",
  "processing",
  "completed",
  "failed",
  "cancelled",
] as const;
export type OperationStatus = typeof OPERATION_STATUSES[number];

export const TERMINAL_STATUSES: readonly OperationStatus[] = ["completed", "failed", "cancelled"];
export const isTerminal = (s: OperationStatus) => TERMINAL_STATUSES.includes(s);

export interface OperationRow {
  id: string;
  collection_id: string;
  owner_id: string;
  type: OperationType;
  status: OperationStatus;
  progress: number;
  message: string;
  error_message: string | null;
  config: Record<string, unknown>;
  metadata: Record<string, unknown>;
  attempts: number;
  event_seq: number;
  /** Bumped by each start of a handler run; that run's writes require it (fencing). */
  run_epoch: number;
  cancel_requested_at: Date | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** The API's `Operation` shape. */
export interface OperationJson {
  id: string;
  collection_id: string;
  type: OperationType;
  status: OperationStatus;
  progress: number;
  message: string;
  error_message: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export function toOperationJson(row: OperationRow): OperationJson {
  return {
    id: row.id,
    collection_id: row.collection_id,
    type: row.type,
    status: row.status,
    progress: row.progress,
    message: row.message,
    error_message: row.error_message,
    metadata: row.metadata ?? {},
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}

/** The job that runs each operation type (task names keep the original system's). */
export const TASK_OF_OPERATION: Record<OperationType, string> = {
  index: "indexing.process_source",
  append: "indexing.process_source",
  remove_source: "collections.remove_source",
  sync: "sync.sync_collection",
  reindex: "collections.reindex",
  delete: "collections.delete_collection",
};
