/**
 * What the HTTP layer calls. Routes hold no business logic: each validates, calls one of these,
 * and shapes the response. `buildServices()` (in `build_services.ts`) wires them to a runtime;
 * tests may build them over the same runtime pieces.
 */
import type { OperationFilter, OperationJson, Runtime } from "@semantik/shared";
import type { RateLimiter } from "./auth/rate_limiter.ts";
import type { TokenAuthenticator } from "./auth/token_authenticator.ts";
import type { CollectionDeps } from "./collections/collections.ts";
import type { SearchRequest, SearchResponse } from "./search/search.ts";
import type { Registry } from "prom-client";
import type { WsGateway } from "./ws/ws_gateway.ts";
import type { DeadLetterJson } from "./dead_letters/dead_letters.ts";
import type { CreateWebhookInput, WebhookDeliveryJson, WebhookJson } from "./webhooks/webhooks.ts";

export type { DeadLetterJson };

export interface ReadinessReport {
  ok: boolean;
  /** `database_replica` (with `DATABASE_READ_URL`) also has `lag_bytes`; it never fails `ok`. */
  checks: Record<string, { ok: boolean; reason?: string; lag_bytes?: number | null }>;
}

export interface ApiServices {
  rt: Runtime;
  jwtSecret: string;
  collections: CollectionDeps;
  /** Checks bearer tokens (and their users); `forget()` after an account change. */
  tokens: TokenAuthenticator;
  /**
   * Login attempts, counted on two counters: per (username, client address), so that guessing
   * one name from one place cannot lock its owner out elsewhere, and per client address.
   */
  loginLimits: { limiter: RateLimiter; perNameAndAddress: number; perAddress: number };
  operations: {
    cancel(userId: string, id: string): Promise<OperationJson>;
    /** Cancels every active operation of the user that matches the filter. */
    cancelMatching(userId: string, filter: OperationFilter): Promise<{ cancelled: number }>;
    retry(userId: string, id: string): Promise<OperationJson>;
  };
  search(userId: string, request: SearchRequest): Promise<SearchResponse>;
  deadLetters: {
    list(userId: string, limit: number): Promise<DeadLetterJson[]>;
    requeue(userId: string, id: string): Promise<void>;
  };
  webhooks: {
    create(userId: string, input: CreateWebhookInput): Promise<WebhookJson & { secret: string }>;
    list(userId: string): Promise<WebhookJson[]>;
    remove(userId: string, id: string): Promise<void>;
    deliveries(
      userId: string,
      options: { webhookId: string; limit: number },
    ): Promise<WebhookDeliveryJson[]>;
  };
  readiness(): Promise<ReadinessReport>;
  /** Prometheus registry the app adds its HTTP metrics to and serves at /metrics. */
  metrics: Registry;
  /** The WebSocket routes' gateway (one hub per process); without it no `/ws/*` routes. */
  ws?: WsGateway;
}
