/** Test helpers: real Postgres, PGlite and Redis with per-test isolation. */
export * from "./db.ts";
export * from "./redis.ts";
export * from "../embedding/testing.ts";
export * from "./wait.ts";
export * from "./private_postgres.ts";
export * from "./events.ts";
export * from "../tasks/_test_env.ts";
export * from "../queue/_test_helpers.ts";
export * from "./postgres_replica.ts";
