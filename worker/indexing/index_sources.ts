/**
 * The work of `index`, `append` and `sync` operations: list the collection's sources (one for
 * index/append, all for sync) through their `DocumentSource` (a directory scan, a Git fetch, a
 * crawl), compare with the stored documents by change token, and stream what changed through the
 * indexing pipeline into the live rows and the current vector generation.
 *
 * Resumable: documents an earlier attempt recorded are unchanged to the next one (same token,
 * or for files same size and mtime, or same hash), rows it left `pending` are picked up, points
 * it wrote without recording are deleted before new ones. Completion metadata counts what the
 * operation did across all its attempts (rows carry `indexed_by`).
 *
 * A Git source's listed commit (and ref) is recorded on its row once the run has indexed it.
 */
import {
  type DocumentSource,
  errorMessage,
  LeaseLostError,
  type Queryable,
  type SourceListing,
  WorkerClosingError,
} from "@semantik/shared";
import type { DocumentOutcome } from "./document_outcome.ts";
import {
  collectionEmbedder,
  type IndexingDeps,
  loadIndexedCollection,
  loadSources,
  type OperationRef,
  type OperationReporter,
  type OperationRun,
} from "./indexed_collection.ts";
import { IndexingPipeline } from "./indexing_pipeline.ts";
import { LiveIndexSink } from "./live_index_sink.ts";
import { LiveProgress } from "./live_progress.ts";
import { planIndexing, type ScannedSource } from "./plan_indexing.ts";
import { loadStoredDocuments } from "./stored_documents.ts";
import { ensureVectorTarget } from "./vector_target.ts";
import { openSource } from "./open_source.ts";

export interface IndexSourcesOptions {
  /** Sources to scan. @default {every source of the collection} */
  sourceIds?: readonly string[];
  /** Documents of the scanned sources that are gone become `deleted` (sync). @default {false} */
  deleteMissing?: boolean;
  /**
   * Only these documents (by id), each indexed again even when its file looks unchanged (a
   * document retry). A document whose file the scan no longer finds is left as it is.
   * @default {undefined: every scanned document}
   */
  documentIds?: readonly string[];
}

/** docs/API.md's completion metadata of an indexing operation, plus what sync reports. */
export interface IndexingSummary extends Record<string, number | null> {
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
  options: OperationRun<OperationReporter> & IndexSourcesOptions,
): Promise<IndexingSummary> {
  const { reporter, op, sourceIds, deleteMissing = false, documentIds } = options;
  const { db, log } = deps;
  const c = await loadIndexedCollection(db, op.collection_id);
  const sources = await loadSources(db, { collectionId: c.id, sourceIds });
  const embedder = await collectionEmbedder(deps, c);
  // Indexing into a collection that holds no document yet (its first index) is a bulk load: its
  // vector collection gets its ANN index once the points are in (vector_store.ts). A retried
  // attempt finds documents and builds the index at once, like any later operation.
  const bulkLoad = !(await hasCompletedDocuments(db, c.id));
  const vectorCollection = await ensureVectorTarget(deps, c, { bulkLoad });

  reporter.updateProgress(0, `Listing ${sources.length} source${sources.length === 1 ? "" : "s"}`);
  const opened = new Map<string, DocumentSource>();
  try {
    const scanned: ScannedSource[] = [];
    const listings = new Map<string, SourceListing>();
    for (const s of sources) {
      const source = await openSource(s, {
        documentRoots: deps.documentRoots,
        maxFileSizeBytes: deps.maxFileSizeBytes,
        sources: deps.sources,
        log,
      });
      opened.set(s.id, source);
      const listing = await source.list({
        signal: reporter.signal,
        onProgress: (message) => reporter.updateProgress(0, message),
      });
      listings.set(s.id, listing);
      scanned.push({ sourceId: s.id, entries: listing.entries });
      log?.info("source listed", { source_id: s.id, type: s.type, ...listing.stats });
      await reporter.checkpoint();
    }
    const summary = await indexListed(deps, reporter, op, {
      collection: c,
      scanned,
      opened,
      embedder,
      vectorCollection,
      deleteMissing,
      documentIds,
    });
    for (const [id, listing] of listings) {
      await db.query(
        `update collection_sources
            set revision = coalesce($3, revision), resolved_ref = coalesce($4, resolved_ref),
                listed_at = now()
          where collection_id = $1 and id = $2`,
        [c.id, id, listing.revision ?? null, listing.ref ?? null],
      );
    }
    return summary;
  } finally {
    if (bulkLoad && !handedOver(reporter)) await finishBulkLoad(deps, reporter, vectorCollection);
    for (const source of opened.values()) {
      await source.close().catch((err) => log?.warn("cannot close source", { err }));
    }
  }
}

async function hasCompletedDocuments(db: IndexingDeps["db"], collectionId: string) {
  const [row] = await db.query<{ any: boolean }>(
    `select exists(select 1 from documents where collection_id = $1 and status = 'completed')
       as any`,
    [collectionId],
  );
  return row?.any === true;
}

/** The run stops because its job goes on elsewhere (lease lost, worker shutting down). */
function handedOver(reporter: OperationReporter): boolean {
  const reason = reporter.signal.reason;
  return reporter.signal.aborted &&
    (reason instanceof LeaseLostError || reason instanceof WorkerClosingError);
}

/**
 * Builds the ANN index a bulk load deferred, whether the operation completed, failed or was
 * cancelled, so the points it wrote are searched through the index; not when the job goes on
 * elsewhere (the next attempt finishes the load and builds it, and a worker shutting down keeps to
 * its grace). A failure here is logged, not thrown (the operation's own outcome stands); the next
 * operation's `ensureCollection` builds it.
 */
async function finishBulkLoad(
  deps: IndexingDeps,
  reporter: OperationReporter,
  vectorCollection: string,
): Promise<void> {
  if (!reporter.signal.aborted) reporter.updateProgress(99, "Building the search index");
  try {
    await deps.vectors.finishBulkLoad(vectorCollection);
  } catch (err) {
    deps.log?.warn("could not build the search index after a bulk load", {
      collection: vectorCollection,
      error: errorMessage(err),
    });
  }
}

interface IndexListedOptions {
  collection: Awaited<ReturnType<typeof loadIndexedCollection>>;
  scanned: ScannedSource[];
  /** The sources listed, by id: Git and web entries are read through them. */
  opened: ReadonlyMap<string, DocumentSource>;
  embedder: Awaited<ReturnType<typeof collectionEmbedder>>;
  vectorCollection: string;
  deleteMissing: boolean;
  /** See {@link IndexSourcesOptions.documentIds}. */
  documentIds?: readonly string[];
}

async function indexListed(
  deps: IndexingDeps,
  reporter: OperationReporter,
  op: OperationRef,
  options: IndexListedOptions,
): Promise<IndexingSummary> {
  const { collection: c, scanned, opened, embedder, vectorCollection, deleteMissing, documentIds } =
    options;
  const { db, log } = deps;

  const stored = await loadStoredDocuments(db, c.id);
  let retryUris: Set<string> | undefined;
  if (documentIds) {
    const wanted = new Set(documentIds);
    retryUris = new Set([...stored.values()].filter((d) => wanted.has(d.id)).map((d) => d.uri));
    for (const s of scanned) s.entries = s.entries.filter((e) => retryUris!.has(e.uri));
  }
  const plan = planIndexing(scanned, stored, {
    operationId: op.id,
    collectionId: c.id,
    deleteMissing: deleteMissing && !documentIds,
    reindexUris: retryUris,
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
  const live = new LiveProgress({ total });
  let done = 0;
  const report = () =>
    reporter.updateProgress(
      total === 0 ? 99 : Math.min(99, (100 * done) / total),
      `Processed ${done} of ${total} documents`,
      live.snapshot(),
    );
  const tally = (o: DocumentOutcome) => {
    if (o.kind === "completed" || o.kind === "touched") statuses.completed++;
    else if (o.kind === "failed" || o.kind === "skipped") statuses[o.kind]++;
    live.recorded({
      documentId: o.ref.id,
      kind: o.kind === "completed"
        ? "processed"
        : o.kind === "failed" || o.kind === "skipped"
        ? o.kind
        : "other",
      chunks: o.kind === "completed" ? o.chunks.length : 0,
    });
  };
  const pipeline = new IndexingPipeline({
    vectors: deps.vectors,
    embedder,
    sink,
    chunkSize: c.chunk_size,
    chunkOverlap: c.chunk_overlap,
    maxFileSizeBytes: deps.maxFileSizeBytes,
    documentRoots: deps.documentRoots,
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
    streamTextAboveBytes: deps.streamTextAboveBytes,
    // Inside one long document: "Embedding huge.txt: 1200 of 5200 chunks".
    onDocumentProgress(p) {
      const part = p.chunksTotal > 0 ? Math.min(1, p.chunksWritten / p.chunksTotal) : 0;
      live.partial({
        documentId: p.ref.id,
        uri: p.ref.uri,
        written: p.chunksWritten,
        total: p.chunksTotal,
      });
      reporter.updateProgress(
        total === 0 ? 99 : Math.min(99, (100 * (done + part)) / total),
        p.message,
        live.snapshot(),
      );
    },
  });
  try {
    for (const item of plan.items) {
      await reporter.checkpoint();
      if (item.kind === "unchanged") {
        if (item.status === "completed" || item.status === "failed" || item.status === "skipped") {
          statuses[item.status]++;
        }
        live.recorded({ documentId: item.ref.id, kind: "other" });
        done++;
        report();
      } else if (item.kind === "index") {
        live.working(item.ref.uri);
        const source = item.ref.sourceId ? opened.get(item.ref.sourceId) : undefined;
        await pipeline.add({
          ref: item.ref,
          path: item.file.uri,
          sizeBytes: item.file.size,
          mtimeMs: item.file.mtimeMs,
          verifyHash: item.verifyHash,
          // Files are read (and large text streamed) from their path; the rest from the source.
          ...(source && source.type !== "directory" ? { entry: { source, ref: item.file } } : {}),
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
    // A job whose lease was lost (or whose worker is closing) may already run elsewhere, writing
    // the same documents: their points are that run's to keep. Otherwise this run is the only
    // one, and what it wrote without recording goes, so the counts agree when it ends.
    await pipeline.abort(err, { discardUnrecorded: !handedOver(reporter) });
    throw err;
  }

  const did = await operationCounts(db, { collectionId: c.id, operationId: op.id });
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
    sources: scanned.length,
    // The live fields of the progress events, settled.
    documents_done: total,
    current_document: null,
    eta_seconds: 0,
  };
}

/** What the operation did to the collection's documents, across all its attempts. */
export async function operationCounts(
  db: Queryable,
  { collectionId, operationId }: { collectionId: string; operationId: string },
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
