/**
 * Sync control of a collection: pause and resume continuous sync, and the list of its sync runs.
 *
 * A paused collection keeps its schedule; `sync.check_continuous_sync` skips it (and logs so) and
 * leaves it due, so the first check after a resume syncs it. A manual sync
 * (`POST .../sync`) still runs while paused.
 *
 * Sync runs are the collection's `sync` operations: the trigger comes from the operation's config
 * (`schedule` from continuous sync, else `user`), the counts from its metadata (set when it ends;
 * null while unknown), the times from the operation row.
 */
import {
  AppError,
  type CollectionRow,
  keysetPage,
  type OperationRow,
  type OperationStatus,
} from "@semantik/shared";
import type { CollectionDeps } from "./collection_deps.ts";
import { type CollectionJson, toCollectionJson } from "./collection_json.ts";
import { getOwnedCollection } from "./owned_collection.ts";

/** Sets or clears `sync_paused` of an owned collection (409 while it is being deleted). */
export async function setSyncPaused(
  deps: CollectionDeps,
  userId: string,
  options: { collectionId: string; paused: boolean },
): Promise<CollectionJson> {
  const { collectionId: id, paused } = options;
  const current = await getOwnedCollection(deps.db, { userId, collectionId: id });
  if (current.status === "deleting") {
    throw new AppError("conflict", `Collection ${id} is being deleted`);
  }
  const [row] = await deps.db.query<CollectionRow>(
    `update collections set sync_paused = $2,
            updated_at = case when sync_paused = $2 then updated_at else now() end
      where id = $1 returning *`,
    [id, paused],
  );
  if (!row) throw new AppError("not_found", `Collection ${id} does not exist`);
  deps.log?.info(paused ? "collection sync paused" : "collection sync resumed", {
    collection_id: id,
  });
  return await toCollectionJson(deps, row);
}

export interface SyncRunJson {
  operation_id: string;
  trigger: "schedule" | "user";
  status: OperationStatus;
  added: number | null;
  modified: number | null;
  deleted: number | null;
  failed: number | null;
  duration_seconds: number | null;
  started_at: string | null;
  finished_at: string | null;
  created_at: string;
}

const count = (m: Record<string, unknown>, key: string): number | null =>
  typeof m[key] === "number" ? m[key] as number : null;

export function toSyncRunJson(op: OperationRow): SyncRunJson {
  const m = (op.metadata ?? {}) as Record<string, unknown>;
  const started = op.started_at ? new Date(op.started_at) : null;
  const finished = op.completed_at ? new Date(op.completed_at) : null;
  return {
    operation_id: op.id,
    trigger: (op.config as Record<string, unknown> | null)?.trigger === "schedule"
      ? "schedule"
      : "user",
    status: op.status,
    added: count(m, "added"),
    modified: count(m, "modified"),
    deleted: count(m, "deleted"),
    failed: count(m, "documents_failed"),
    duration_seconds: started && finished
      ? Math.max(0, (finished.getTime() - started.getTime()) / 1000)
      : null,
    started_at: started?.toISOString() ?? null,
    finished_at: finished?.toISOString() ?? null,
    created_at: new Date(op.created_at).toISOString(),
  };
}

/** The collection's sync runs, newest first, keyset-paged. */
export async function listSyncRuns(
  deps: CollectionDeps,
  userId: string,
  options: { collectionId: string; limit: number; cursor?: string },
): Promise<{ runs: SyncRunJson[]; next_cursor: string | null }> {
  await getOwnedCollection(deps.db, { userId, collectionId: options.collectionId });
  const page = await keysetPage<OperationRow>(deps.db, {
    from: "operations",
    where: ["owner_id = $1", "collection_id = $2", "type = 'sync'"],
    params: [userId, options.collectionId],
    limit: options.limit,
    cursor: options.cursor,
  });
  return { runs: page.items.map(toSyncRunJson), next_cursor: page.nextCursor };
}
