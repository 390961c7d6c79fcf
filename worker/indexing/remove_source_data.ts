/**
 * The work of `collections.remove_source`: the source's documents lose their points, chunk rows
 * and rows, then the source row goes, then its local copy (a Git clone, crawled pages) under
 * DATA_DIR. Points go first, so a retry still finds the documents (by source) whose points
 * remain. Other sources' documents are untouched.
 */
import {
  type Db,
  type Logger,
  removeSourceState,
  type VectorStore,
  vectorStoreNameFor,
} from "@semantik/shared";

export interface RemoveSourceDeps {
  db: Db;
  vectors: VectorStore;
  /** DATA_DIR: the source's local copy in `DATA_DIR/sources/<id>` goes too. @default {none} */
  dataDir?: string;
  log?: Logger;
}

export interface RemoveSourceSummary extends Record<string, number> {
  documents_removed: number;
  chunks_removed: number;
}

/** Removes the source and everything indexed from it; a no-op for what is already gone. */
export async function removeSourceData(
  deps: RemoveSourceDeps,
  options: { collectionId: string; sourceId: string; signal?: AbortSignal },
): Promise<RemoveSourceSummary> {
  const { collectionId, sourceId } = options;
  const { db, vectors } = deps;
  const docs = await db.query<{ id: string }>(
    "select id from documents where collection_id = $1 and source_id = $2 order by id",
    [collectionId, sourceId],
  );
  // Through the alias: it names the generation searches use, the only one outside a reindex.
  const alias = vectorStoreNameFor(collectionId);
  for (let i = 0; i < docs.length; i += 1000) {
    options.signal?.throwIfAborted();
    await vectors.deleteByDocument(alias, docs.slice(i, i + 1000).map((d) => d.id));
  }
  const counts = await db.transaction(async (tx) => {
    const [n] = await tx.query<{ documents: number; chunks: number }>(
      `select count(*)::int as documents,
              (select count(*) from chunks k
                where k.collection_id = $1 and k.document_id in
                  (select id from documents where collection_id = $1 and source_id = $2))::int
                as chunks
         from documents where collection_id = $1 and source_id = $2`,
      [collectionId, sourceId],
    );
    await tx.query(
      `delete from chunks where collection_id = $1 and document_id in
         (select id from documents where collection_id = $1 and source_id = $2)`,
      [collectionId, sourceId],
    );
    await tx.query("delete from documents where collection_id = $1 and source_id = $2", [
      collectionId,
      sourceId,
    ]);
    await tx.query("delete from collection_sources where collection_id = $1 and id = $2", [
      collectionId,
      sourceId,
    ]);
    return n ?? { documents: 0, chunks: 0 };
  });
  if (deps.dataDir) await removeSourceState(deps.dataDir, sourceId);
  deps.log?.info("source removed", { collection_id: collectionId, source_id: sourceId, ...counts });
  return { documents_removed: counts.documents, chunks_removed: counts.chunks };
}
