/**
 * @semantik/shared: configuration, database, Redis, logging and the domain library used by the
 * api, worker and scheduler members.
 */
export * from "./config/config.ts";
export { developmentSecret, type DevelopmentSecretOptions } from "./config/development_secret.ts";
export { normalizeCronSchedule, parseCronSchedule } from "./config/cron_schedule.ts";
export * from "./log/logger.ts";
export * from "./db/db.ts";
export * from "./db/postgres_driver.ts";
export * from "./db/pglite_driver.ts";
export * from "./db/open.ts";
export * from "./db/read_pool.ts";
export * from "./db/migrate.ts";
export * from "./redis/redis.ts";
export * from "./redis/replica_wait.ts";
export * from "./redis/redis_target.ts";
export * from "./redis/load_lua.ts";
export * from "./redis/redis_script.ts";
export * from "./errors.ts";
export * from "./async/backoff.ts";
export * from "./async/sleep.ts";
export * from "./async/with_timeout.ts";
export * from "./runtime/host_name.ts";
export * from "./runtime/runtime.ts";
export * from "./redis/private_server.ts";
export * from "./db/cursor.ts";
export * from "./db/uuid.ts";
export * from "./operations/operation_types.ts";
export * from "./operations/operations.ts";
export * from "./collections/collection_rows.ts";
export * from "./collections/collection_names.ts";
export * from "./collections/collection_schemas.ts";
export * from "./events/mod.ts";
export * from "./vector/mod.ts";
export * from "./embedding/mod.ts";
export * from "./extraction/mod.ts";
export * from "./chunking/mod.ts";
export * from "./queue/mod.ts";
export * from "./tasks/mod.ts";
export * from "./metrics/mod.ts";
export * from "./sources/mod.ts";
export * from "./webhooks/mod.ts";
