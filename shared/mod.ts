/**
 * @semantik/shared: configuration, database, Redis, logging and the domain library used by the
 * api, worker and scheduler members.
 */
export * from "./config/config.ts";
export { normalizeCronSchedule, parseCronSchedule } from "./config/cron_schedule.ts";
export * from "./log/logger.ts";
export * from "./db/db.ts";
export * from "./db/postgres_driver.ts";
export * from "./db/pglite_driver.ts";
export * from "./db/open.ts";
export * from "./db/migrate.ts";
export * from "./redis/redis.ts";
export * from "./errors.ts";
export * from "./runtime/runtime.ts";
export * from "./redis/private_server.ts";
export * from "./auth/password.ts";
export * from "./auth/tokens.ts";
export * from "./auth/users.ts";
export * from "./auth/rate_limiter.ts";
export * from "./db/cursor.ts";
export * from "./operations/operation_types.ts";
export * from "./operations/operations.ts";
export * from "./collections/collection_schemas.ts";
export * from "./collections/collections.ts";
export * from "./events/mod.ts";
export * from "./vector/mod.ts";
export * from "./embedding/mod.ts";
export * from "./search/search.ts";
export * from "./extraction/mod.ts";
export * from "./chunking/mod.ts";
export * from "./queue/mod.ts";
export * from "./tasks/mod.ts";
export * from "./maintenance/mod.ts";
export * from "./indexing/mod.ts";
export * from "./metrics/mod.ts";
export * from "./sources/mod.ts";
