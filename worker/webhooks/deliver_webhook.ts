/**
 * One attempt of a webhook delivery (`webhooks.deliver`): loads the row and its webhook, checks
 * the target again (DNS may have changed since the webhook was created), signs the body and
 * POSTs it without following redirects, within a time limit. A 2xx ends the delivery
 * `succeeded`; any other answer, a timeout or a network failure is thrown for the queue to retry
 * with backoff, and the last one makes it a dead letter ({@link failWebhookDelivery} marks the
 * row `failed`). A refused target fails the delivery at once: retrying would not change the
 * answer. A delivery whose webhook was deleted has no row any more and sends nothing.
 */
import {
  checkWebhookTarget,
  type Db,
  errorMessage,
  type Logger,
  type SecretBox,
  signWebhook,
  webhookSecretContext,
  WebhookTargetError,
} from "@semantik/shared";

/** What a delivery works with. */
export interface DeliverWebhookDeps {
  db: Db;
  /** Opens the webhooks' sealed secrets. */
  secrets: () => Promise<SecretBox>;
  log: Logger;
}

/** Options of {@link deliverWebhook}. */
export interface DeliverWebhookOptions {
  /** This attempt's number (1-based), recorded on the row. */
  attempt: number;
  /** `WEBHOOK_ALLOW_PRIVATE`. @default {false} */
  allowPrivate?: boolean;
  /** Time limit of the request, headers and body. @default {10000} */
  timeoutMs?: number;
  /** The addresses of a host name. @default {DNS} */
  resolveHost?: (hostname: string) => Promise<string[]>;
  /** The job's signal (lease lost, shutdown). */
  signal?: AbortSignal;
}

/** What an attempt ended with (a failure to retry is thrown instead). */
export type DeliveryOutcome = "succeeded" | "refused" | "gone" | "finished";

/** The most error text a delivery row keeps. */
const ERROR_MAX = 1000;

interface DeliveryRow {
  id: string;
  event: string;
  status: string;
  payload: Record<string, unknown>;
  webhook_id: string;
  url: string;
  secret_sealed: string;
}

export async function deliverWebhook(
  deps: DeliverWebhookDeps,
  deliveryId: string,
  options: DeliverWebhookOptions,
): Promise<DeliveryOutcome> {
  const { attempt, allowPrivate = false, timeoutMs = 10_000, resolveHost, signal } = options;
  const [row] = await deps.db.query<DeliveryRow>(
    `select d.id, d.event, d.status, d.payload, d.webhook_id, w.url, w.secret_sealed
       from webhook_deliveries d join webhooks w on w.id = d.webhook_id
      where d.id = $1`,
    [deliveryId],
  );
  if (!row) return "gone";
  if (row.status !== "pending") return "finished";
  await deps.db.query(
    `update webhook_deliveries set attempts = greatest(attempts, $2), last_attempt_at = now()
      where id = $1`,
    [deliveryId, attempt],
  );

  let pinned: string | undefined;
  try {
    ({ pinnedAddress: pinned } = await checkWebhookTarget(row.url, { allowPrivate, resolveHost }));
  } catch (err) {
    if (!(err instanceof WebhookTargetError)) throw err;
    await finish(deps.db, deliveryId, { status: "failed", error: err.message });
    deps.log.warn("webhook target refused", { delivery_id: deliveryId, err });
    return "refused";
  }

  const secret = await (await deps.secrets()).open(
    row.secret_sealed,
    webhookSecretContext(row.webhook_id),
  );
  const body = JSON.stringify({ ...row.payload, event: row.event, delivery_id: row.id });
  const signature = await signWebhook(secret, { body });
  const timeout = AbortSignal.timeout(timeoutMs);
  const client = pinned === undefined ? undefined : Deno.createHttpClient({
    proxy: { transport: "tcp", hostname: pinned, port: Number(new URL(row.url).port || 80) },
  });
  let status: number;
  try {
    const response = await fetch(row.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "Semantik-Webhooks/1.0",
        "x-semantik-event": row.event,
        "x-semantik-delivery": row.id,
        "x-semantik-signature": signature,
      },
      body,
      redirect: "manual",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      client,
    });
    status = response.status;
    await response.body?.cancel().catch(() => {});
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const text = timeout.aborted
      ? `no answer within ${timeoutMs} ms`
      : `cannot reach ${row.url}: ${errorMessage(err)}`;
    await note(deps.db, deliveryId, { error: text, responseStatus: null });
    throw new Error(`Webhook delivery failed: ${text}`);
  } finally {
    client?.close();
  }
  if (status >= 200 && status < 300) {
    await finish(deps.db, deliveryId, { status: "succeeded", error: null, responseStatus: status });
    return "succeeded";
  }
  const text = `${row.url} answered HTTP ${status}`;
  await note(deps.db, deliveryId, { error: text, responseStatus: status });
  throw new Error(`Webhook delivery failed: ${text}`);
}

/** Marks a pending delivery `failed` (its job went to the dead letters) with `error`. */
export async function failWebhookDelivery(
  db: Db,
  delivery: { id: string; error: string },
): Promise<void> {
  await finish(db, delivery.id, { status: "failed", error: delivery.error });
}

async function note(
  db: Db,
  id: string,
  o: { error: string; responseStatus: number | null },
): Promise<void> {
  await db.query(
    `update webhook_deliveries set last_error = $2, response_status = $3
      where id = $1 and status = 'pending'`,
    [id, o.error.slice(0, ERROR_MAX), o.responseStatus],
  );
}

async function finish(
  db: Db,
  id: string,
  o: { status: "succeeded" | "failed"; error: string | null; responseStatus?: number },
): Promise<void> {
  await db.query(
    `update webhook_deliveries set status = $2, last_error = coalesce($3, last_error),
            response_status = coalesce($4, response_status), completed_at = now()
      where id = $1 and status = 'pending'`,
    [id, o.status, o.error?.slice(0, ERROR_MAX) ?? null, o.responseStatus ?? null],
  );
}
