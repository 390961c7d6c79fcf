/**
 * The work of `sync.sync_collection`: every source of the collection is scanned and compared
 * with the stored documents (size and mtime first, then the content hash); added and modified
 * files are indexed (a modified one's old points deleted before its new ones are written), files
 * that are gone become `deleted` with their points and chunk rows removed. A renamed file is one
 * added and one deleted document.
 */
import { type IndexingSummary, indexSources } from "./index_sources.ts";
import type { IndexingDeps, OperationReporter, OperationRun } from "./indexed_collection.ts";

export async function syncCollectionData(
  deps: IndexingDeps,
  { reporter, op }: OperationRun<OperationReporter>,
): Promise<IndexingSummary> {
  const summary = await indexSources(deps, { reporter, op, deleteMissing: true });
  await deps.db.query(
    "update collections set last_synced_at = now(), updated_at = now() where id = $1",
    [op.collection_id],
  );
  return summary;
}
