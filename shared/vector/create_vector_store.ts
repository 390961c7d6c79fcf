/**
 * Picks and opens the vector store the settings ask for (docs/API.md: `VECTOR_STORE`, `QDRANT_URL`,
 * `QDRANT_API_KEY`, `VECTOR_DATABASE_URL`, `PGVECTOR_INDEXING_THRESHOLD_KB`).
 */
import type { Config } from "../config/config.ts";
import type { Db } from "../db/db.ts";
import type { ReadDb } from "../db/read_pool.ts";
import { connectPostgres } from "../db/postgres_driver.ts";
import type { Logger } from "../log/logger.ts";
import { PgvectorStore } from "./pgvector_store.ts";
import { QdrantStore } from "./qdrant_store.ts";
import type { VectorStore } from "./vector_store.ts";

/** Options of {@link createVectorStore}. */
export interface CreateVectorStoreOptions {
  /**
   * The main database, used by the pgvector store when `VECTOR_DATABASE_URL` is unset (the
   * embedded PGlite in `deno task dev`). The store never closes it. @default {undefined}
   */
  db?: Db;
  /**
   * Where the store's searches read when it is on `db` (`DATABASE_READ_URL`'s replica, which
   * holds the same tables); ignored with `VECTOR_DATABASE_URL`, whose database it does not
   * replicate. @default {db}
   */
  readDb?: ReadDb;
  /** Pool size of the store's own connection to `VECTOR_DATABASE_URL`. @default {5} */
  maxConnections?: number;
  /** @default {the store's own logger} */
  logger?: Logger;
}

/**
 * `qdrant` when `config.vectorStore` says so; else `pgvector` on `VECTOR_DATABASE_URL` (a
 * connection the store owns and closes) or, when that is unset, on `options.db`.
 */
export function createVectorStore(
  config:
    & Pick<Config, "vectorStore" | "qdrantUrl" | "qdrantApiKey" | "vectorDatabaseUrl">
    & Partial<Pick<Config, "qdrantShards" | "qdrantReplication" | "pgvectorIndexingThresholdKb">>,
  options: CreateVectorStoreOptions = {},
): VectorStore {
  const { db, readDb, maxConnections = 5, logger } = options;
  const indexingThresholdKb = config.pgvectorIndexingThresholdKb;
  if (config.vectorStore === "qdrant") {
    if (!config.qdrantUrl) {
      throw new TypeError("Cannot create the qdrant vector store: QDRANT_URL is not set");
    }
    return new QdrantStore({
      url: config.qdrantUrl,
      apiKey: config.qdrantApiKey,
      logger,
      shards: config.qdrantShards,
      replication: config.qdrantReplication,
    });
  }
  if (config.vectorDatabaseUrl) {
    const own = connectPostgres(config.vectorDatabaseUrl, {
      max: maxConnections,
      applicationName: "semantik-vectors",
    });
    return new PgvectorStore(own, { ownsDb: true, logger, indexingThresholdKb });
  }
  if (!db) {
    throw new TypeError(
      "Cannot create the pgvector store: VECTOR_DATABASE_URL is not set and no database was given",
    );
  }
  return new PgvectorStore(db, { logger, readDb, indexingThresholdKb });
}
