/**
 * What the HTTP layer calls. Routes hold no business logic: each validates, calls one of these,
 * and shapes the response. `buildServices()` (in `build_services.ts`) wires them to a runtime;
 * tests may build them over the same runtime pieces.
 */
import type {
  CollectionDeps,
  OperationJson,
  RateLimiter,
  Runtime,
  SearchRequest,
  SearchResult,
} from "@semantik/shared";
import type { Registry } from "prom-client";
import type { WsGateway } from "./ws/ws_gateway.ts";

export interface DeadLetterJson {
  id: string;
  task: string;
  queue: string;
  operation_id: string | null;
  attempts: number;
  error: string;
  failed_at: string;
}

export interface ReadinessReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; reason?: string }>;
}

export interface ApiServices {
  rt: Runtime;
  jwtSecret: string;
  collections: CollectionDeps;
  loginLimits: { perUser: RateLimiter; perAddress: RateLimiter };
  operations: {
    cancel(userId: string, id: string): Promise<OperationJson>;
    retry(userId: string, id: string): Promise<OperationJson>;
  };
  search(userId: string, request: SearchRequest): Promise<SearchResult[]>;
  deadLetters: {
    list(userId: string, limit: number): Promise<DeadLetterJson[]>;
    requeue(userId: string, id: string): Promise<void>;
  };
  readiness(): Promise<ReadinessReport>;
  /** Prometheus registry the app adds its HTTP metrics to and serves at /metrics. */
  metrics: Registry;
  /** The WebSocket routes' gateway (one hub per process); without it no `/ws/*` routes. */
  ws?: WsGateway;
}
