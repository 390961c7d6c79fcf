/**
 * The work of `collections.delete_collection`: everything a collection owns goes, in an order
 * that a retry can repeat: the vectors of every generation and the alias, the Redis event
 * streams of its other operations, then in one transaction the staged rows, chunk rows (one
 * partition: chunks are partitioned by collection), documents, sources and the collection row.
 * Operation records stay (docs/API.md: operations outlive their collection), and so do the deleting
 * operation's own events until cleanup.
 */
import type { Redis } from "ioredis";
import {
  type Db,
  type EventKeys,
  generationCollectionName,
  type Logger,
  removeSourceState,
  type VectorStore,
  vectorStoreNameFor,
} from "@semantik/shared";

export interface DeleteCollectionDeps {
  db: Db;
  vectors: VectorStore;
  redis: Redis;
  eventKeys: EventKeys;
  /** DATA_DIR: the sources' local copies (`DATA_DIR/sources/<id>`) go too. @default {none} */
  dataDir?: string;
  log?: Logger;
}

export interface DeleteCollectionSummary extends Record<string, number> {
  documents_deleted: number;
  chunks_deleted: number;
  vectors_deleted: number;
  sources_deleted: number;
  streams_deleted: number;
}

const GENERATION_SUFFIX = /_g(\d+)$/;

/** Deletes the collection's data; a no-op for what is already gone. */
export async function deleteCollectionData(
  deps: DeleteCollectionDeps,
  collectionId: string,
  options: { keepOperationId?: string } = {},
): Promise<DeleteCollectionSummary> {
  const { db, vectors } = deps;
  const [row] = await db.query<{ vector_generation: number }>(
    "select vector_generation from collections where id = $1",
    [collectionId],
  );
  const alias = vectorStoreNameFor(collectionId);
  const target = await vectors.resolveAlias(alias);
  const vectorsDeleted = await vectors.count(alias);
  // Every generation that may exist: the current one, a half-built next one, and older ones a
  // dead reindex did not get to drop.
  const fromTarget = Number(GENERATION_SUFFIX.exec(target ?? "")?.[1] ?? 0);
  const highest = Math.max(row?.vector_generation ?? 1, fromTarget) + 1;
  const names = new Set<string>(target ? [target] : []);
  for (let g = 1; g <= highest; g++) names.add(generationCollectionName(collectionId, g));
  for (const name of names) await vectors.drop(name);
  await vectors.deleteAlias(alias);

  const ops = await db.query<{ id: string }>(
    "select id from operations where collection_id = $1 and id <> $2",
    [collectionId, options.keepOperationId ?? "00000000-0000-0000-0000-000000000000"],
  );
  let streamsDeleted = 0;
  for (let i = 0; i < ops.length; i += 250) {
    // An operation's stream and counter share its partition's hash tag, so one UNLINK per
    // operation holds in a cluster too (operations of several partitions would not).
    const counts = await Promise.all(
      ops.slice(i, i + 250).map((o) =>
        deps.redis.unlink(deps.eventKeys.stream(o.id), deps.eventKeys.seq(o.id))
      ),
    );
    streamsDeleted += counts.reduce((a, b) => a + b, 0);
  }

  // Before the rows that name them go, so a retry still finds them.
  if (deps.dataDir) {
    const sources = await db.query<{ id: string }>(
      "select id from collection_sources where collection_id = $1",
      [collectionId],
    );
    for (const s of sources) await removeSourceState(deps.dataDir, s.id);
  }

  const counts = await db.transaction(async (tx) => {
    const [n] = await tx.query<{ documents: number; chunks: number; sources: number }>(
      `select (select count(*) from documents where collection_id = $1)::int as documents,
              (select count(*) from chunks where collection_id = $1)::int as chunks,
              (select count(*) from collection_sources where collection_id = $1)::int as sources`,
      [collectionId],
    );
    await tx.query("delete from staged_chunks where collection_id = $1", [collectionId]);
    await tx.query("delete from staged_documents where collection_id = $1", [collectionId]);
    await tx.query("delete from chunks where collection_id = $1", [collectionId]);
    await tx.query("delete from documents where collection_id = $1", [collectionId]);
    await tx.query("delete from collection_sources where collection_id = $1", [collectionId]);
    await tx.query("delete from collections where id = $1", [collectionId]);
    return n ?? { documents: 0, chunks: 0, sources: 0 };
  });
  deps.log?.info("collection deleted", { collection_id: collectionId, ...counts });
  return {
    documents_deleted: counts.documents,
    chunks_deleted: counts.chunks,
    vectors_deleted: vectorsDeleted,
    sources_deleted: counts.sources,
    streams_deleted: streamsDeleted,
  };
}
