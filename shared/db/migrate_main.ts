/** `deno task migrate`: applies pending migrations to the configured database and exits. */
import { loadConfigOrExit } from "../config/config.ts";
import { configureLogging, getLogger } from "../log/logger.ts";
import { openDatabase } from "./open.ts";
import { migrate } from "./migrate.ts";

const config = loadConfigOrExit();
configureLogging({
  level: config.logLevel,
  format: config.environment === "production" ? "json" : "pretty",
});
const log = getLogger("migrate");
const db = await openDatabase(config.databaseUrl, config.dataDir, { max: 1 });
try {
  const applied = await migrate(db);
  log.info(applied.length ? "applied migrations" : "schema is up to date", {
    applied: applied.join(",") || undefined,
    database: config.databaseUrl ? "postgres" : "pglite",
  });
} finally {
  await db.close();
}
