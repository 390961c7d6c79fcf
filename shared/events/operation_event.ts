/** The frames clients receive for an operation (docs/API.md "WebSockets"). */
import type {
  OperationRow,
  OperationStatus,
  OperationType,
} from "../operations/operation_types.ts";

export type OperationEventType =
  | "OPERATION_PROGRESS"
  | "OPERATION_COMPLETED"
  | "OPERATION_FAILED"
  | "OPERATION_CANCELLED"
  | "OPERATION_SNAPSHOT";

export interface OperationEvent {
  type: OperationEventType;
  event_id: number;
  operation_id: string;
  collection_id: string;
  operation_type: OperationType;
  status: OperationStatus;
  progress: number;
  message: string;
  metadata: Record<string, unknown>;
  error_message: string | null;
  timestamp: string;
}

export const TERMINAL_EVENT_TYPES: readonly OperationEventType[] = [
  "OPERATION_COMPLETED",
  "OPERATION_FAILED",
  "OPERATION_CANCELLED",
];

export function eventTypeFor(status: OperationStatus): OperationEventType {
  switch (status) {
    case "completed":
      return "OPERATION_COMPLETED";
    case "failed":
      return "OPERATION_FAILED";
    case "cancelled":
      return "OPERATION_CANCELLED";
    default:
      return "OPERATION_PROGRESS";
  }
}

/** The event for a row's current state, without its id (assigned when published). */
export function eventFromRow(
  row: OperationRow,
  type: OperationEventType = eventTypeFor(row.status),
): Omit<OperationEvent, "event_id"> {
  return {
    type,
    operation_id: row.id,
    collection_id: row.collection_id,
    operation_type: row.type,
    status: row.status,
    progress: row.progress,
    message: row.message,
    metadata: row.metadata ?? {},
    error_message: row.error_message,
    timestamp: new Date().toISOString(),
  };
}
