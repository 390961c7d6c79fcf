/** The events a webhook can subscribe to: one per terminal status of an operation. */
import type { OperationStatus } from "../operations/operation_types.ts";

export const WEBHOOK_EVENTS = [
  "operation.completed",
  "operation.failed",
  "operation.cancelled",
] as const;
export type WebhookEvent = typeof WEBHOOK_EVENTS[number];

/** The event an operation reaching `status` raises; undefined while it is not terminal. */
export function webhookEventOf(status: OperationStatus): WebhookEvent | undefined {
  switch (status) {
    case "completed":
      return "operation.completed";
    case "failed":
      return "operation.failed";
    case "cancelled":
      return "operation.cancelled";
    default:
      return undefined;
  }
}

/** Where a webhook's sealed secret belongs (the SecretBox context: a copy to another row does not open). */
export const webhookSecretContext = (webhookId: string) => `webhooks/${webhookId}/secret`;
