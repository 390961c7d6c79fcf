/**
 * A user's webhooks, as the API calls them: create (the secret is shown in this answer only and
 * kept sealed by `SECRETS_KEY`, for the worker to sign with), list, delete, and the recent
 * deliveries of one. Each is its owner's: another user's is 403 `forbidden`, a missing one 404.
 * Deliveries themselves are recorded by `shared/operations` and sent by the worker.
 */
import { z } from "zod";
import {
  AppError,
  checkWebhookTarget,
  type Db,
  type Logger,
  type SecretBox,
  WEBHOOK_EVENTS,
  type WebhookEvent,
  webhookSecretContext,
  WebhookTargetError,
} from "@semantik/shared";

/** The body of `POST /api/v2/webhooks`. */
export const createWebhookSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length)
    .refine((e) => new Set(e).size === e.length, "must not repeat an event"),
});
export type CreateWebhookInput = z.infer<typeof createWebhookSchema>;

export interface WebhookJson {
  id: string;
  url: string;
  events: WebhookEvent[];
  created_at: string;
}

export interface WebhookDeliveryJson {
  id: string;
  webhook_id: string;
  operation_id: string;
  event: WebhookEvent;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  last_error: string | null;
  response_status: number | null;
  created_at: string;
  last_attempt_at: string | null;
  completed_at: string | null;
}

/** What the webhook functions work with. */
export interface WebhookDeps {
  db: Db;
  /** Seals new secrets. */
  secrets: () => Promise<SecretBox>;
  /** `WEBHOOK_ALLOW_PRIVATE`. */
  allowPrivate: boolean;
  /** The addresses of a host name. @default {DNS} */
  resolveHost?: (hostname: string) => Promise<string[]>;
  log: Logger;
}

interface WebhookRow {
  id: string;
  url: string;
  events: WebhookEvent[];
  created_at: Date;
}

const toJson = (r: WebhookRow): WebhookJson => ({
  id: r.id,
  url: r.url,
  events: r.events,
  created_at: r.created_at.toISOString(),
});

/**
 * Creates a webhook: 400 `invalid_request` for a URL that is not http(s), 422
 * `address_not_allowed` for a host that is (or resolves to) a loopback or private-network
 * address, or that cannot be resolved.
 */
export async function createWebhook(
  deps: WebhookDeps,
  { userId, input }: { userId: string; input: CreateWebhookInput },
): Promise<WebhookJson & { secret: string }> {
  try {
    await checkWebhookTarget(input.url, {
      allowPrivate: deps.allowPrivate,
      resolveHost: deps.resolveHost,
    });
  } catch (err) {
    if (err instanceof WebhookTargetError) {
      throw new AppError(
        err.reason === "url" ? "invalid_request" : "address_not_allowed",
        err.message,
      );
    }
    throw err;
  }
  const id = crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = "whsec_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const sealed = await (await deps.secrets()).seal(secret, webhookSecretContext(id));
  const [row] = await deps.db.query<WebhookRow>(
    `insert into webhooks (id, owner_id, url, events, secret_sealed) values ($1, $2, $3, $4, $5)
     returning id, url, events, created_at`,
    [id, userId, input.url, input.events, sealed],
  );
  return { ...toJson(row!), secret };
}

/** The user's webhooks, newest first, without secrets. */
export async function listWebhooks(deps: WebhookDeps, userId: string): Promise<WebhookJson[]> {
  const rows = await deps.db.query<WebhookRow>(
    `select id, url, events, created_at from webhooks where owner_id = $1
      order by created_at desc, id`,
    [userId],
  );
  return rows.map(toJson);
}

/** Deletes a webhook and its deliveries (pending ones are not sent). */
export async function deleteWebhook(
  deps: WebhookDeps,
  { userId, webhookId: id }: { userId: string; webhookId: string },
): Promise<void> {
  await ownedWebhook(deps, userId, id);
  await deps.db.query("delete from webhooks where id = $1 and owner_id = $2", [id, userId]);
}

/** Checks that webhook `id` exists (404) and is `userId`'s (403, as for every resource). */
async function ownedWebhook(deps: WebhookDeps, userId: string, id: string): Promise<void> {
  const [hook] = await deps.db.query<{ owner_id: string }>(
    "select owner_id from webhooks where id = $1",
    [id],
  );
  if (!hook) throw notFound(id);
  if (hook.owner_id !== userId) {
    throw new AppError("forbidden", `Webhook ${id} belongs to another user`);
  }
}

/** The webhook's most recent deliveries, newest first. */
export async function listWebhookDeliveries(
  deps: WebhookDeps,
  userId: string,
  options: { webhookId: string; limit: number },
): Promise<WebhookDeliveryJson[]> {
  await ownedWebhook(deps, userId, options.webhookId);
  const rows = await deps.db.query<{
    id: string;
    webhook_id: string;
    operation_id: string;
    event: WebhookEvent;
    status: WebhookDeliveryJson["status"];
    attempts: number;
    last_error: string | null;
    response_status: number | null;
    created_at: Date;
    last_attempt_at: Date | null;
    completed_at: Date | null;
  }>(
    `select id, webhook_id, operation_id, event, status, attempts, last_error, response_status,
            created_at, last_attempt_at, completed_at
       from webhook_deliveries where webhook_id = $1
      order by created_at desc, id limit $2`,
    [options.webhookId, options.limit],
  );
  return rows.map((r) => ({
    ...r,
    created_at: r.created_at.toISOString(),
    last_attempt_at: r.last_attempt_at?.toISOString() ?? null,
    completed_at: r.completed_at?.toISOString() ?? null,
  }));
}

const notFound = (id: string) => new AppError("not_found", `Webhook ${id} does not exist`);
