/**
 * The webhook outbox. When an operation ends, `shared/operations` records one `pending` row in
 * `webhook_deliveries` per subscribed webhook of its owner, in the transaction that ends it
 * ({@link recordWebhookDeliveries}). After the commit, the task context enqueues them
 * ({@link WebhookOutbox.enqueueOperation}); a process that dies between the two leaves rows that
 * were never enqueued, and the periodic sweep ({@link WebhookOutbox.sweep}) enqueues those. A
 * delivery's job id is the delivery id, so enqueueing it twice while it lives is a no-op.
 */
import type { Db, Queryable } from "../db/db.ts";
import type { Logger } from "../log/logger.ts";
import type { QueueClient } from "../queue/queue_client.ts";
import type { OperationRow } from "../operations/operation_types.ts";
import { toOperationJson } from "../operations/operation_types.ts";
import { deliverWebhookTask } from "../tasks/definitions.ts";
import { webhookEventOf } from "./webhook_events.ts";

/**
 * Records the deliveries of `row`'s terminal transition: one per webhook of its owner subscribed
 * to the event. Call it in the transaction that wrote `row`. Returns the new delivery ids (none
 * for a status that is not terminal).
 */
export async function recordWebhookDeliveries(
  tx: Queryable,
  row: OperationRow,
): Promise<string[]> {
  const event = webhookEventOf(row.status);
  if (!event) return [];
  const rows = await tx.query<{ id: string }>(
    `insert into webhook_deliveries (id, webhook_id, operation_id, event, payload)
     select gen_random_uuid(), w.id, $2, $3, $4::jsonb
       from webhooks w where w.owner_id = $1 and $3 = any(w.events)
     returning id`,
    [row.owner_id, row.id, event, { ...toOperationJson(row) }],
  );
  return rows.map((r) => r.id);
}

/** What the outbox enqueues with. */
export interface WebhookOutboxDeps {
  db: Db;
  queues: QueueClient;
  log: Logger;
}

/** Options of {@link WebhookOutbox}. */
export interface WebhookOutboxOptions {
  /** `WEBHOOK_MAX_ATTEMPTS`. @default {deliverWebhookTask.maxAttempts} */
  maxAttempts?: number;
  /** `WEBHOOK_RETRY_DELAY_MS`: the first retry's delay, doubled for each later one. @default {10000} */
  retryDelayMs?: number;
}

/** Options of {@link WebhookOutbox.sweep}. */
export interface SweepOptions {
  /** Leave rows younger than this (their enqueue after commit may still be on its way). @default {10000} */
  graceMs?: number;
  /** At most this many rows per sweep. @default {500} */
  limit?: number;
}

export class WebhookOutbox {
  readonly #deps: WebhookOutboxDeps;
  readonly #maxAttempts: number;
  readonly #retryDelayMs: number;

  constructor(deps: WebhookOutboxDeps, options: WebhookOutboxOptions = {}) {
    const { maxAttempts = deliverWebhookTask.maxAttempts, retryDelayMs = 10_000 } = options;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError(
        `Cannot create webhook outbox: maxAttempts must be a positive integer, got ${maxAttempts}`,
      );
    }
    if (!(Number.isFinite(retryDelayMs) && retryDelayMs > 0)) {
      throw new RangeError(
        `Cannot create webhook outbox: retryDelayMs must be positive, got ${retryDelayMs}`,
      );
    }
    this.#deps = deps;
    this.#maxAttempts = maxAttempts;
    this.#retryDelayMs = retryDelayMs;
  }

  /** Enqueues the deliveries of operation `operationId` not enqueued yet; returns how many. */
  async enqueueOperation(operationId: string): Promise<number> {
    const rows = await this.#deps.db.query<{ id: string }>(
      `select id from webhook_deliveries
        where operation_id = $1 and status = 'pending' and enqueued_at is null`,
      [operationId],
    );
    return await this.#enqueue(rows.map((r) => r.id));
  }

  /**
   * Enqueues pending deliveries older than the grace: those never enqueued (the process died
   * after the commit) and those whose job was lost (Redis flushed); a delivery whose job still
   * lives is left alone by the job id. Returns how many jobs were created.
   */
  async sweep(options: SweepOptions = {}): Promise<number> {
    const { graceMs = 10_000, limit = 500 } = options;
    const rows = await this.#deps.db.query<{ id: string }>(
      `select id from webhook_deliveries
        where status = 'pending' and created_at < now() - make_interval(secs => $1)
        order by created_at limit $2`,
      [graceMs / 1000, limit],
    );
    return await this.#enqueue(rows.map((r) => r.id));
  }

  async #enqueue(ids: string[]): Promise<number> {
    let created = 0;
    for (const id of ids) {
      const res = await this.#deps.queues.enqueue(deliverWebhookTask, { delivery_id: id }, {
        jobId: id,
        maxAttempts: this.#maxAttempts,
        backoff: { type: "exponential", delayMs: this.#retryDelayMs },
      });
      if (res.created) created++;
      await this.#deps.db.query(
        `update webhook_deliveries set enqueued_at = coalesce(enqueued_at, now()) where id = $1`,
        [id],
      );
    }
    return created;
  }
}

/** The outbox of a process's runtime pieces and settings. */
export function webhookOutboxFor(
  rt: WebhookOutboxDeps & {
    config: { webhookMaxAttempts: number; webhookRetryDelayMs: number };
  },
): WebhookOutbox {
  return new WebhookOutbox(rt, {
    maxAttempts: rt.config.webhookMaxAttempts,
    retryDelayMs: rt.config.webhookRetryDelayMs,
  });
}
