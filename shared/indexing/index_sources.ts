/**
 * The work of `index`, `append` and `sync` operations: scan the collection's sources (one for
 * index/append, all for sync), compare with the stored documents, and stream what changed
 * through the indexing pipeline into the live rows and the current vector generation.
 *
 * Resumable: documents an earlier attempt recorded are unchanged to the next one (same size and
 * mtime, or same hash), rows it left `pending` are picked up, points it wrote without recording
 * are deleted before new ones. Completion metadata counts what the operation did across all its
 * attempts (rows carry `indexed_by`).
 */
import type { Queryable } from "../db/db.ts";
import { type ScanEntry, scanSource } from "../extraction/scan_source.ts";
import type { DocumentOutcome } from "./document_outcome.ts";
import {
  embedderFor,
  type IndexingDeps,
  loadIndexedCollection,
  loadSources,
  type OperationRef,
  type OperationReporter,
} from "./indexed_collection.ts";
import { IndexingPipeline } from "./indexing_pipeline.ts";
import { LiveIndexSink } from "./live_index_sink.ts";
import { planIndexing, type ScannedSource } from "./plan_indexing.ts";
import { loadStoredDocuments } from "./stored_documents.ts";
import { ensureVectorTarget } from "./vector_target.ts";

export interface IndexSourcesOptions {
  /** Sources to scan. @default {every source of the collection} */
  sourceIds?: readonly string[];
  /** Documents of the scanned sources that are gone become `deleted` (sync). @default {false} */
  deleteMissing?: boolean;
}

/** docs/API.md's completion metadata of an indexing operation, plus what sync reports. */
export interface IndexingSummary extends Record<string, number> {
  documents_total: number;
  documents_processed: number;
  documents_failed: number;
  documents_skipped: number;
  documents_unchanged: number;
  chunks_created: number;
  added: number;
  modified: number;
  deleted: number;
  sources: number;
}

/** Scans, plans and indexes; returns the completion metadata. */
export async function indexSources(
  deps: IndexingDeps,
  reporter: OperationReporter,
  op: OperationRef,
  options: IndexSourcesOptions = {},
): Promise<IndexingSummary> {
  const { sourceIds, deleteMissing = false } = options;
  const { db, log } = deps;
  const c = await loadIndexedCollection(db, op.collection_id);
  const sources = await loadSources(db, c.id, sourceIds);
  const embedder = await embedderFor(deps, c.embedding_model, c.vector_dim);
  const vectorCollection = await ensureVectorTarget(deps, c);

  reporter.updateProgress(0, `Scanning ${sources.length} source${sources.length === 1 ? "" : "s"}`);
  const scanned: ScannedSource[] = [];
  for (const s of sources) {
    const entries: ScanEntry[] = [];
    for await (
      const e of scanSource(
        { path: s.path, include: s.include, exclude: s.exclude },
        {
          documentRoots: deps.documentRoots,
          maxFileSizeBytes: deps.maxFileSizeBytes,
          signal: reporter.signal,
        },
      )
    ) {
      entries.push(e);
    }
    scanned.push({ sourceId: s.id, entries });
    await reporter.checkpoint();
  }

  const stored = await loadStoredDocuments(db, c.id);
  const plan = planIndexing(scanned, stored, {
    operationId: op.id,
    collectionId: c.id,
    deleteMissing,
  });
  const sink = new LiveIndexSink({
    db,
    collectionId: c.id,
    generation: c.vector_generation,
    vectorCollection,
    operationId: op.id,
  });
  await sink.addPending(
    plan.items.flatMap((i) =>
      i.kind === "index" ? [{ ...i.ref, sizeBytes: i.file.size, mtimeMs: i.file.mtimeMs }] : []
    ),
  );

  const total = plan.items.length + plan.deleted.length;
  const statuses = { completed: 0, failed: 0, skipped: 0 };
  let done = 0;
  const report = () =>
    reporter.updateProgress(
      total === 0 ? 99 : Math.min(99, (100 * done) / total),
      `Processed ${done} of ${total} documents`,
    );
  const tally = (o: DocumentOutcome) => {
    if (o.kind === "completed" || o.kind === "touched") statuses.completed++;
    else if (o.kind === "failed" || o.kind === "skipped") statuses[o.kind]++;
  };
  const pipeline = new IndexingPipeline({
    vectors: deps.vectors,
    embedder,
    sink,
    chunkSize: c.chunk_size,
    chunkOverlap: c.chunk_overlap,
    maxFileSizeBytes: deps.maxFileSizeBytes,
    gate: deps.gate,
    signal: reporter.signal,
    batchChunks: deps.batchChunks,
    prefetchBatches: deps.prefetchBatches,
    log,
    onRecorded(outcomes) {
      outcomes.forEach(tally);
      done += outcomes.length;
      report();
    },
  });
  try {
    for (const item of plan.items) {
      await reporter.checkpoint();
      if (item.kind === "unchanged") {
        if (item.status === "completed" || item.status === "failed" || item.status === "skipped") {
          statuses[item.status]++;
        }
        done++;
        report();
      } else if (item.kind === "index") {
        await pipeline.add({
          ref: item.ref,
          path: item.file.uri,
          sizeBytes: item.file.size,
          mtimeMs: item.file.mtimeMs,
          verifyHash: item.verifyHash,
        });
      } else {
        await pipeline.addOutcome({
          kind: item.problem.kind,
          ref: item.ref,
          reason: item.problem.reason,
          sizeBytes: item.problem.size ?? 0,
          mtimeMs: item.problem.mtimeMs ?? null,
          mimeType: null,
        });
      }
    }
    for (const ref of plan.deleted) {
      await reporter.checkpoint();
      await pipeline.addOutcome({ kind: "deleted", ref });
    }
    await pipeline.finish();
  } catch (err) {
    await pipeline.abort(err);
    throw err;
  }

  const did = await operationCounts(db, c.id, op.id);
  return {
    documents_total: plan.items.length,
    documents_processed: did.processed,
    documents_failed: statuses.failed,
    documents_skipped: statuses.skipped,
    documents_unchanged: Math.max(0, statuses.completed - did.processed),
    chunks_created: did.chunks,
    added: did.added,
    modified: did.modified,
    deleted: did.deleted,
    sources: sources.length,
  };
}

/** What the operation did to the collection's documents, across all its attempts. */
export async function operationCounts(
  db: Queryable,
  collectionId: string,
  operationId: string,
): Promise<
  { processed: number; chunks: number; added: number; modified: number; deleted: number }
> {
  const [r] = await db.query<
    { processed: number; chunks: number; added: number; modified: number; deleted: number }
  >(
    `select count(*) filter (where status = 'completed')::int as processed,
            coalesce(sum(chunk_count) filter (where status = 'completed'), 0)::int as chunks,
            count(*) filter (where last_change = 'added' and status <> 'deleted')::int as added,
            count(*) filter (where last_change = 'modified' and status <> 'deleted')::int
              as modified,
            count(*) filter (where last_change = 'deleted' and status = 'deleted')::int as deleted
       from documents where collection_id = $1 and indexed_by = $2`,
    [collectionId, operationId],
  );
  return r ?? { processed: 0, chunks: 0, added: 0, modified: 0, deleted: 0 };
}
