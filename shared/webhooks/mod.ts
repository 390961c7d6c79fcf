/** Webhooks: events, target checks, signatures and the delivery outbox (shared by api and worker). */
export * from "./webhook_events.ts";
export * from "./webhook_signature.ts";
export * from "./webhook_target.ts";
export * from "./webhook_outbox.ts";
