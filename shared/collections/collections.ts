/**
 * Collections: the domain functions the API routes call. Each validates what the schema cannot
 * (model, chunk size against the model, source path against DOCUMENT_ROOTS, ownership), writes
 * Postgres in one transaction, and, for write operations, dispatches the operation's job after
 * the commit. If that dispatch fails (Redis down), the operation stays `pending` in Postgres and
 * the reconciler enqueues it later: nothing is lost.
 */
import type { Db, Queryable } from "../db/db.ts";
import { isUniqueViolation } from "../db/db.ts";
import { decodeCursor, pageOf } from "../db/cursor.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { insertOperation } from "../operations/operations.ts";
import {
  type OperationJson,
  type OperationRow,
  type OperationType,
  toOperationJson,
} from "../operations/operation_types.ts";
import {
  type CreateCollectionInput,
  DEFAULT_CHUNK_OVERLAP,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_SYNC_INTERVAL_MINUTES,
  type ReindexInput,
  type SourceInput,
  type UpdateCollectionInput,
} from "./collection_schemas.ts";

export type CollectionStatus = "pending" | "ready" | "processing" | "error" | "deleting";

export interface CollectionRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  status: CollectionStatus;
  status_message: string | null;
  embedding_model: string;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  sync_mode: "one_time" | "continuous";
  sync_interval_minutes: number;
  vector_store_name: string;
  next_sync_at: Date | null;
  last_synced_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface SourceRow {
  id: string;
  collection_id: string;
  type: "directory";
  path: string;
  include: string[];
  exclude: string[];
  created_at: Date;
}

export interface SourceJson {
  id: string;
  type: "directory";
  path: string;
  include: string[];
  exclude: string[];
}

export interface CollectionJson {
  id: string;
  name: string;
  description: string;
  status: CollectionStatus;
  embedding_model: string;
  vector_dim: number;
  chunk_size: number;
  chunk_overlap: number;
  sync_mode: "one_time" | "continuous";
  sync_interval_minutes: number;
  document_count: number;
  chunk_count: number;
  vector_count: number;
  sources: SourceJson[];
  created_at: string;
  updated_at: string;
}

/** What the collection functions need from the rest of the system. */
export interface CollectionDeps {
  db: Db;
  /** `DEFAULT_EMBEDDING_MODEL` and `DOCUMENT_ROOTS`. */
  defaultEmbeddingModel: string;
  documentRoots: string[];
  /** The model registry: unknown names throw 422 `unknown_model`. */
  models: { resolve(name: string): Promise<{ dimension: number; maxChunkTokens: number }> };
  /** Real path of a source directory inside the roots, else 422 `path_not_allowed`. */
  resolveSourcePath(path: string, roots: string[]): Promise<string>;
  /** Enqueues the operation's job (job id = operation id). */
  dispatch(op: OperationRow): Promise<void>;
  /** Counts points in the vector store; a missing vector collection counts 0. */
  countVectors?(vectorStoreName: string): Promise<number>;
  log?: Logger;
}

/** The alias through which searches reach a collection's current vectors. */
export function vectorStoreNameFor(collectionId: string): string {
  return `col_${collectionId.replaceAll("-", "")}`;
}

function toSourceJson(s: SourceRow): SourceJson {
  return {
    id: s.id,
    type: s.type,
    path: s.path,
    include: s.include ?? [],
    exclude: s.exclude ?? [],
  };
}

async function sourcesOf(db: Queryable, ids: string[]): Promise<Map<string, SourceJson[]>> {
  const out = new Map<string, SourceJson[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await db.query<SourceRow>(
    `select * from collection_sources where collection_id = any($1::uuid[])
      order by created_at, id`,
    [ids],
  );
  for (const r of rows) out.get(r.collection_id)?.push(toSourceJson(r));
  return out;
}

async function countsOf(
  db: Queryable,
  ids: string[],
): Promise<Map<string, { documents: number; chunks: number }>> {
  const out = new Map<string, { documents: number; chunks: number }>();
  if (ids.length === 0) return out;
  const rows = await db.query<{ id: string; documents: number; chunks: number }>(
    `select c.id,
            (select count(*) from documents d
              where d.collection_id = c.id and d.status = 'completed') as documents,
            (select count(*) from chunks k where k.collection_id = c.id) as chunks
       from collections c where c.id = any($1::uuid[])`,
    [ids],
  );
  for (const r of rows) out.set(r.id, { documents: r.documents, chunks: r.chunks });
  return out;
}

async function toJsonMany(deps: CollectionDeps, rows: CollectionRow[]): Promise<CollectionJson[]> {
  const ids = rows.map((r) => r.id);
  const [sources, counts, vectors] = await Promise.all([
    sourcesOf(deps.db, ids),
    countsOf(deps.db, ids),
    Promise.all(rows.map((r) => countVectorsSafe(deps, r.vector_store_name))),
  ]);
  return rows.map((r, i) => ({
    id: r.id,
    name: r.name,
    description: r.description,
    status: r.status,
    embedding_model: r.embedding_model,
    vector_dim: r.vector_dim,
    chunk_size: r.chunk_size,
    chunk_overlap: r.chunk_overlap,
    sync_mode: r.sync_mode,
    sync_interval_minutes: r.sync_interval_minutes,
    document_count: counts.get(r.id)?.documents ?? 0,
    chunk_count: counts.get(r.id)?.chunks ?? 0,
    vector_count: vectors[i]!,
    sources: sources.get(r.id) ?? [],
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  }));
}

async function countVectorsSafe(deps: CollectionDeps, name: string): Promise<number> {
  if (!deps.countVectors) return 0;
  try {
    return await deps.countVectors(name);
  } catch (err) {
    // A store outage must not make the collection unreadable; readiness reports the outage.
    deps.log?.warn("cannot count vectors", { collection: name, err });
    return 0;
  }
}

export async function toCollectionJson(
  deps: CollectionDeps,
  row: CollectionRow,
): Promise<CollectionJson> {
  return (await toJsonMany(deps, [row]))[0]!;
}

/** The collection if it exists and belongs to `userId`: 404 when missing, 403 when not theirs. */
export async function getOwnedCollection(
  db: Queryable,
  userId: string,
  id: string,
): Promise<CollectionRow> {
  const [row] = await db.query<CollectionRow>("select * from collections where id = $1", [id]);
  if (!row) throw new AppError("not_found", `Collection ${id} does not exist`);
  if (row.owner_id !== userId) {
    throw new AppError("forbidden", `Collection ${id} belongs to another user`);
  }
  return row;
}

async function checkModel(
  deps: CollectionDeps,
  model: string,
  chunkSize: number,
  chunkOverlap: number,
): Promise<{ dimension: number }> {
  const info = await deps.models.resolve(model);
  if (chunkSize > info.maxChunkTokens) {
    throw new AppError(
      "chunk_too_large",
      `chunk_size ${chunkSize} is above what ${model} can embed (${info.maxChunkTokens} tokens)`,
      { max_chunk_size: info.maxChunkTokens },
    );
  }
  if (chunkOverlap >= chunkSize) {
    throw new AppError(
      "invalid_request",
      `chunk_overlap (${chunkOverlap}) must be smaller than chunk_size (${chunkSize})`,
    );
  }
  return { dimension: info.dimension };
}

async function insertSource(
  tx: Queryable,
  collectionId: string,
  source: SourceInput,
  realPath: string,
): Promise<SourceRow> {
  try {
    const [row] = await tx.query<SourceRow>(
      `insert into collection_sources (id, collection_id, type, path, include, exclude)
       values ($1, $2, $3, $4, $5::jsonb, $6::jsonb) returning *`,
      [
        crypto.randomUUID(),
        collectionId,
        source.type,
        realPath,
        source.include ?? [],
        source.exclude ?? [],
      ] as never,
    );
    return row!;
  } catch (err) {
    if (isUniqueViolation(err, "collection_sources_path_key")) {
      throw new AppError("conflict", `The collection already has a source at ${realPath}`);
    }
    throw err;
  }
}

async function dispatchAfterCommit(deps: CollectionDeps, op: OperationRow): Promise<void> {
  try {
    await deps.dispatch(op);
  } catch (err) {
    deps.log?.warn("operation saved but its job could not be enqueued; reconcile will retry", {
      operation_id: op.id,
      err,
    });
  }
}

export async function createCollection(
  deps: CollectionDeps,
  userId: string,
  input: CreateCollectionInput,
): Promise<{ collection: CollectionJson; operation: OperationJson | null }> {
  const model = input.embedding_model ?? deps.defaultEmbeddingModel;
  const chunkSize = input.chunk_size ?? DEFAULT_CHUNK_SIZE;
  const chunkOverlap = input.chunk_overlap ?? Math.min(DEFAULT_CHUNK_OVERLAP, chunkSize - 1);
  const { dimension } = await checkModel(deps, model, chunkSize, chunkOverlap);
  const realPath = input.source
    ? await deps.resolveSourcePath(input.source.path, deps.documentRoots)
    : undefined;
  const id = crypto.randomUUID();
  const syncMode = input.sync_mode ?? "one_time";
  const interval = input.sync_interval_minutes ?? DEFAULT_SYNC_INTERVAL_MINUTES;

  const { row, op } = await deps.db.transaction(async (tx) => {
    let row: CollectionRow;
    try {
      [row] = await tx.query<CollectionRow>(
        `insert into collections (id, owner_id, name, description, status, embedding_model,
           vector_dim, chunk_size, chunk_overlap, sync_mode, sync_interval_minutes,
           vector_store_name, next_sync_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 case when $10 = 'continuous' then now() + make_interval(mins => $11) end)
         returning *`,
        [
          id,
          userId,
          input.name,
          input.description ?? "",
          realPath ? "pending" : "ready",
          model,
          dimension,
          chunkSize,
          chunkOverlap,
          syncMode,
          interval,
          vectorStoreNameFor(id),
        ],
      ) as [CollectionRow];
    } catch (err) {
      if (isUniqueViolation(err, "collections_owner_name_key")) {
        throw new AppError("conflict", `You already have a collection named ${input.name}`);
      }
      throw err;
    }
    let op: OperationRow | undefined;
    if (input.source && realPath) {
      const source = await insertSource(tx, id, input.source, realPath);
      op = await insertOperation(tx, {
        collectionId: id,
        ownerId: userId,
        type: "index",
        config: { source_id: source.id },
      });
    }
    return { row, op };
  });
  if (op) await dispatchAfterCommit(deps, op);
  return {
    collection: await toCollectionJson(deps, row),
    operation: op ? toOperationJson(op) : null,
  };
}

export async function getCollection(
  deps: CollectionDeps,
  userId: string,
  id: string,
): Promise<CollectionJson> {
  return await toCollectionJson(deps, await getOwnedCollection(deps.db, userId, id));
}

export async function listCollections(
  deps: CollectionDeps,
  userId: string,
  options: { limit: number; cursor?: string },
): Promise<{ collections: CollectionJson[]; next_cursor: string | null }> {
  const params: unknown[] = [userId];
  let where = "owner_id = $1";
  if (options.cursor) {
    const c = decodeCursor(options.cursor);
    params.push(c.createdAt, c.id);
    where += " and (created_at, id) < ($2, $3::uuid)";
  }
  params.push(options.limit + 1);
  const rows = await deps.db.query<CollectionRow>(
    `select * from collections where ${where}
      order by created_at desc, id desc limit $${params.length}`,
    params as never,
  );
  const page = pageOf(rows, options.limit);
  return { collections: await toJsonMany(deps, page.items), next_cursor: page.nextCursor };
}

export async function updateCollection(
  deps: CollectionDeps,
  userId: string,
  id: string,
  patch: UpdateCollectionInput,
): Promise<CollectionJson> {
  const current = await getOwnedCollection(deps.db, userId, id);
  if (current.status === "deleting") {
    throw new AppError("conflict", `Collection ${id} is being deleted`);
  }
  const syncMode = patch.sync_mode ?? current.sync_mode;
  const interval = patch.sync_interval_minutes ?? current.sync_interval_minutes;
  const scheduleChanged = syncMode !== current.sync_mode ||
    interval !== current.sync_interval_minutes;
  let row: CollectionRow;
  try {
    [row] = await deps.db.query<CollectionRow>(
      `update collections set
         name = $2, description = $3, sync_mode = $4, sync_interval_minutes = $5,
         next_sync_at = case
           when $4 <> 'continuous' then null
           when $6::boolean or next_sync_at is null then now() + make_interval(mins => $5)
           else next_sync_at end,
         updated_at = now()
       where id = $1 returning *`,
      [
        id,
        patch.name ?? current.name,
        patch.description ?? current.description,
        syncMode,
        interval,
        scheduleChanged,
      ],
    ) as [CollectionRow];
  } catch (err) {
    if (isUniqueViolation(err, "collections_owner_name_key")) {
      throw new AppError("conflict", `You already have a collection named ${patch.name}`);
    }
    throw err;
  }
  return await toCollectionJson(deps, row);
}

/**
 * Starts a write operation on an owned collection (409 when another is active, or when the
 * collection is being deleted); `prepare` computes the operation's config inside the
 * transaction.
 */
export async function startOperation(
  deps: CollectionDeps,
  userId: string,
  id: string,
  type: OperationType,
  prepare?: (tx: Queryable, c: CollectionRow) => Promise<Record<string, unknown>>,
): Promise<OperationRow> {
  const op = await deps.db.transaction(async (tx) => {
    const c = await getOwnedCollection(tx, userId, id);
    if (c.status === "deleting") {
      throw new AppError("conflict", `Collection ${id} is being deleted`);
    }
    const config = prepare ? await prepare(tx, c) : {};
    const op = await insertOperation(tx, { collectionId: id, ownerId: userId, type, config });
    if (type === "delete") {
      await tx.query(
        "update collections set status = 'deleting', updated_at = now() where id = $1",
        [id],
      );
    }
    return op;
  });
  await dispatchAfterCommit(deps, op);
  return op;
}

export async function deleteCollection(
  deps: CollectionDeps,
  userId: string,
  id: string,
): Promise<OperationJson> {
  return toOperationJson(await startOperation(deps, userId, id, "delete"));
}

export async function addSource(
  deps: CollectionDeps,
  userId: string,
  id: string,
  source: SourceInput,
): Promise<{ source: SourceJson; operation: OperationJson }> {
  await getOwnedCollection(deps.db, userId, id);
  const realPath = await deps.resolveSourcePath(source.path, deps.documentRoots);
  let created: SourceRow | undefined;
  const op = await startOperation(deps, userId, id, "append", async (tx) => {
    created = await insertSource(tx, id, source, realPath);
    return { source_id: created.id };
  });
  return { source: toSourceJson(created!), operation: toOperationJson(op) };
}

export async function removeSource(
  deps: CollectionDeps,
  userId: string,
  id: string,
  sourceId: string,
): Promise<OperationJson> {
  const op = await startOperation(deps, userId, id, "remove_source", async (tx) => {
    const [s] = await tx.query<{ id: string }>(
      "select id from collection_sources where id = $1 and collection_id = $2",
      [sourceId, id],
    );
    if (!s) {
      throw new AppError("not_found", `Source ${sourceId} does not exist in collection ${id}`);
    }
    return { source_id: sourceId };
  });
  return toOperationJson(op);
}

export async function syncCollection(
  deps: CollectionDeps,
  userId: string,
  id: string,
): Promise<OperationJson> {
  const op = await startOperation(deps, userId, id, "sync", async (tx) => {
    const [n] = await tx.query<{ n: number }>(
      "select count(*) as n from collection_sources where collection_id = $1",
      [id],
    );
    if (!n || n.n === 0) {
      throw new AppError("conflict", `Collection ${id} has no source to sync`);
    }
    return { trigger: "api" };
  });
  return toOperationJson(op);
}

export async function reindexCollection(
  deps: CollectionDeps,
  userId: string,
  id: string,
  input: ReindexInput,
): Promise<OperationJson> {
  const current = await getOwnedCollection(deps.db, userId, id);
  const model = input.embedding_model ?? current.embedding_model;
  const chunkSize = input.chunk_size ?? current.chunk_size;
  const chunkOverlap = input.chunk_overlap ??
    Math.min(current.chunk_overlap, chunkSize - 1);
  const { dimension } = await checkModel(deps, model, chunkSize, chunkOverlap);
  const op = await startOperation(deps, userId, id, "reindex", () =>
    Promise.resolve({
      embedding_model: model,
      vector_dim: dimension,
      chunk_size: chunkSize,
      chunk_overlap: chunkOverlap,
    }));
  return toOperationJson(op);
}

export interface DocumentJson {
  id: string;
  source_id: string | null;
  uri: string;
  content_hash: string | null;
  size_bytes: number;
  mime_type: string | null;
  status: "pending" | "completed" | "failed" | "skipped" | "deleted";
  chunk_count: number;
  error: string | null;
  updated_at: string;
}

export async function listDocuments(
  deps: CollectionDeps,
  userId: string,
  id: string,
  options: { status?: DocumentJson["status"]; limit: number; cursor?: string },
): Promise<{ documents: DocumentJson[]; next_cursor: string | null }> {
  await getOwnedCollection(deps.db, userId, id);
  const params: unknown[] = [id];
  const where = ["collection_id = $1"];
  if (options.status) {
    params.push(options.status);
    where.push(`status = $${params.length}`);
  }
  if (options.cursor) {
    const c = decodeCursor(options.cursor);
    params.push(c.createdAt, c.id);
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length}::uuid)`);
  }
  params.push(options.limit + 1);
  const rows = await deps.db.query<
    Omit<DocumentJson, "updated_at"> & { created_at: Date; updated_at: Date }
  >(
    `select id, source_id, uri, content_hash, size_bytes, mime_type, status, chunk_count, error,
            created_at, updated_at
       from documents where ${where.join(" and ")}
      order by created_at desc, id desc limit $${params.length}`,
    params as never,
  );
  const page = pageOf(rows, options.limit);
  return {
    documents: page.items.map(({ created_at: _c, updated_at, ...d }) => ({
      ...d,
      updated_at: updated_at.toISOString(),
    })),
    next_cursor: page.nextCursor,
  };
}
