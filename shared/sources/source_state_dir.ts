/**
 * Where a source keeps its local copy (a Git clone, crawled pages): `DATA_DIR/sources/<id>`, on
 * each worker that runs it. Removing a source removes it; a worker without it makes it again.
 */
import { join } from "node:path";

/**
 * The directory of source `sourceId` under `dataDir`.
 * @throws {TypeError} when the id could leave the directory (a separator, `.` or `..`).
 */
export function sourceStateDir(dataDir: string, sourceId: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(sourceId)) {
    throw new TypeError(`Cannot place source state: bad source id ${JSON.stringify(sourceId)}`);
  }
  return join(dataDir, "sources", sourceId);
}

/** Deletes the local copy of a source (remove-source); nothing to do when there is none. */
export async function removeSourceState(dataDir: string, sourceId: string): Promise<void> {
  await Deno.remove(sourceStateDir(dataDir, sourceId), { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}
