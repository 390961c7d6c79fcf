import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "./db.ts";
import { connectPostgres, type PostgresOptions } from "./postgres_driver.ts";
import { openPglite } from "./pglite_driver.ts";

/**
 * Opens the main database: Postgres at `databaseUrl`, or, when it is undefined, the embedded
 * PGlite under `dataDir/pglite`.
 */
export async function openDatabase(
  databaseUrl: string | undefined,
  dataDir: string,
  options: PostgresOptions = {},
): Promise<Db> {
  if (databaseUrl) return connectPostgres(databaseUrl, options);
  const dir = join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  return await openPglite({ dataDir: dir });
}
