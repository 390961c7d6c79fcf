/**
 * The path of a document: extract -> chunk -> embed -> upsert -> record. Documents stream
 * through one at a time, their chunks are batched across documents for the embedder, and the
 * three kinds of work overlap: while the model embeds one batch (in its inference thread), this
 * thread extracts and chunks the next documents, and the batch before is written (points, then
 * rows). At most `prefetchBatches` batches are in flight, so memory stays bounded.
 *
 * Order of writes, per batch: the points of documents that may have old ones are deleted (by
 * `document_id`), the new points are upserted, then the sink records the documents whose last
 * chunk was in the batch, with their chunk rows, in one transaction. A crash between the two
 * leaves points without rows; the next run deletes them first, since a document is only recorded
 * `completed` after its points are in.
 *
 * A bad document (unreadable, binary, corrupt, unchunkable) becomes a `failed` or `skipped`
 * outcome with its reason; only infrastructure failures (the model, the vector store, the
 * database) and aborts stop the pipeline.
 */
import { chunkDocument } from "../chunking/chunk_document.ts";
import type { Embedder } from "../embedding/embedder.ts";
import type { ExtractedDocument } from "../extraction/extract_bytes.ts";
import { extractFile } from "../extraction/extract_file.ts";
import { ExtractionError } from "../extraction/extraction_error.ts";
import { hashFile } from "../extraction/hash_file.ts";
import type { Logger } from "../log/logger.ts";
import type { VectorPoint, VectorStore } from "../vector/vector_store.ts";
import type { ChunkRecord, DocumentOutcome } from "./document_outcome.ts";
import { chunkPointId } from "./ids.ts";
import type { IndexSink } from "./index_sink.ts";
import type { DocumentRef } from "./plan_indexing.ts";

/** What the pipeline uses of a model. */
export type PipelineEmbedder = Pick<Embedder, "embedTexts" | "countTokens">;

/** Guards model batches (the worker's embedding semaphore). */
export interface EmbeddingGate {
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export interface IndexingPipelineOptions {
  vectors: VectorStore;
  embedder: PipelineEmbedder;
  sink: IndexSink;
  /** Most tokens per chunk. */
  chunkSize: number;
  /** Tokens shared by consecutive chunks. */
  chunkOverlap: number;
  /** MAX_FILE_SIZE_MB in bytes: larger files are skipped unread. */
  maxFileSizeBytes: number;
  /** Held around every model batch. @default {none} */
  gate?: EmbeddingGate;
  /** Stops extraction and embedding between steps. @default {none} */
  signal?: AbortSignal;
  /** Chunks per embedding call. @default {128} */
  batchChunks?: number;
  /** Batches cut but not yet written, at most (the embedder's queue). @default {3} */
  prefetchBatches?: number;
  /** Outcomes recorded together at most, when documents have no chunks. @default {256} */
  maxOutcomesPerBatch?: number;
  /** Called after each batch is recorded. @default {none} */
  onRecorded?: (outcomes: readonly DocumentOutcome[]) => void;
  /** @default {none} */
  log?: Logger;
}

/** One file to extract and index. */
export interface PipelineFile {
  ref: DocumentRef;
  /** Where to read it (the document's uri for a directory source). */
  path: string;
  /** Size and mtime from the scan, recorded with the document. */
  sizeBytes: number;
  mtimeMs: number | null;
  /** Compare the file's hash with this one first; equal means unchanged (a touch). */
  verifyHash: string | null;
}

interface Batch {
  texts: string[];
  points: Omit<VectorPoint, "vector">[];
  /** Documents whose old points go before this batch's are written. */
  clear: string[];
  /** Recorded once this batch's points are in. */
  outcomes: DocumentOutcome[];
}

const newBatch = (): Batch => ({ texts: [], points: [], clear: [], outcomes: [] });

export class IndexingPipeline {
  readonly #o: Required<Omit<IndexingPipelineOptions, "gate" | "signal" | "onRecorded" | "log">>;
  readonly #gate: EmbeddingGate | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onRecorded: ((outcomes: readonly DocumentOutcome[]) => void) | undefined;
  readonly #log: Logger | undefined;
  #open: Batch = newBatch();
  #inFlight = 0;
  #slotWaiters: (() => void)[] = [];
  #embedChain: Promise<unknown> = Promise.resolve();
  #writeChain: Promise<void> = Promise.resolve();
  #error: { err: unknown } | undefined;
  #finished = false;

  constructor(options: IndexingPipelineOptions) {
    const {
      batchChunks = 128,
      prefetchBatches = 3,
      maxOutcomesPerBatch = 256,
    } = options;
    for (const [name, v] of Object.entries({ batchChunks, prefetchBatches, maxOutcomesPerBatch })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create indexing pipeline: ${name} must be a positive integer, got ${v}`,
        );
      }
    }
    this.#o = {
      vectors: options.vectors,
      embedder: options.embedder,
      sink: options.sink,
      chunkSize: options.chunkSize,
      chunkOverlap: options.chunkOverlap,
      maxFileSizeBytes: options.maxFileSizeBytes,
      batchChunks,
      prefetchBatches,
      maxOutcomesPerBatch,
    };
    this.#gate = options.gate;
    this.#signal = options.signal;
    this.#onRecorded = options.onRecorded;
    this.#log = options.log;
  }

  /**
   * Extracts and chunks `file` and queues its chunks for embedding. Resolves once the document
   * is queued (waiting while the embedder is `prefetchBatches` behind); rejects with the
   * pipeline's first failure.
   */
  async add(file: PipelineFile): Promise<void> {
    this.#check();
    const outcome = await this.#prepare(file);
    this.#check();
    // Even a document that fails again as before may have points: an attempt that indexed it
    // and died before recording it left them. Only a touch keeps its (still valid) points.
    if (outcome.kind !== "touched" && outcome.ref.mayHavePoints) {
      this.#open.clear.push(outcome.ref.id);
    }
    if (outcome.kind === "completed") {
      for (const [i, c] of outcome.chunks.entries()) {
        // A full batch goes before the next chunk; the last chunk's batch takes the outcome.
        if (i > 0 && this.#open.texts.length >= this.#o.batchChunks) await this.#dispatch();
        this.#open.texts.push(c.text);
        this.#open.points.push({
          id: c.id,
          payload: {
            collection_id: this.#o.sink.collectionId,
            document_id: outcome.ref.id,
            uri: outcome.ref.uri,
            chunk_index: c.ordinal,
          },
        });
      }
    }
    this.#open.outcomes.push(outcome);
    if (
      this.#open.texts.length >= this.#o.batchChunks ||
      this.#open.outcomes.length >= this.#o.maxOutcomesPerBatch
    ) {
      await this.#dispatch();
    }
  }

  /** Queues an outcome decided without extraction (a scan problem, a deleted document). */
  async addOutcome(outcome: DocumentOutcome): Promise<void> {
    this.#check();
    if (outcome.kind === "completed") {
      throw new TypeError("Cannot add a completed outcome: completed documents come from add()");
    }
    if (outcome.kind !== "touched" && outcome.ref.mayHavePoints) {
      this.#open.clear.push(outcome.ref.id);
    }
    this.#open.outcomes.push(outcome);
    if (this.#open.outcomes.length >= this.#o.maxOutcomesPerBatch) await this.#dispatch();
  }

  /** Writes what is queued and waits for every batch; rejects with the first failure. */
  async finish(): Promise<void> {
    this.#check();
    await this.#dispatch();
    await this.#writeChain;
    this.#finished = true;
    if (this.#error) throw this.#error.err;
  }

  /**
   * Stops: batches not yet written are dropped (their documents stay as they were, for the next
   * run), and the call resolves once nothing of this pipeline runs any more.
   */
  async abort(reason: unknown = new Error("Indexing pipeline aborted")): Promise<void> {
    this.#error ??= { err: reason };
    this.#open = newBatch();
    for (const w of this.#slotWaiters.splice(0)) w();
    await this.#writeChain;
    await this.#embedChain;
  }

  #check(): void {
    if (this.#error) throw this.#error.err;
    if (this.#finished) throw new Error("Cannot use indexing pipeline: it has finished");
    this.#signal?.throwIfAborted();
  }

  async #dispatch(): Promise<void> {
    const batch = this.#open;
    this.#open = newBatch();
    if (batch.texts.length === 0 && batch.outcomes.length === 0 && batch.clear.length === 0) {
      return;
    }
    while (this.#inFlight >= this.#o.prefetchBatches && !this.#error) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
    if (this.#error) throw this.#error.err;
    this.#inFlight++;
    const embedded = this.#embedChain.then(() => this.#embed(batch));
    this.#embedChain = embedded.catch(() => {});
    // The previous write settles first, whatever becomes of this batch's embedding: the chain
    // must never let a later failure settle before an earlier write has finished.
    const written = this.#writeChain.then(() => embedded).then((vectors) =>
      this.#write(batch, vectors)
    );
    this.#writeChain = written.catch((err) => {
      this.#error ??= { err };
    }).finally(() => {
      this.#inFlight--;
      this.#slotWaiters.shift()?.();
    });
  }

  async #embed(batch: Batch): Promise<Float32Array[]> {
    if (this.#error) throw this.#error.err;
    if (batch.texts.length === 0) return [];
    const run = () =>
      this.#o.embedder.embedTexts(batch.texts, "document", { signal: this.#signal });
    return this.#gate ? await this.#gate.run(run, this.#signal) : await run();
  }

  async #write(batch: Batch, vectors: Float32Array[]): Promise<void> {
    if (this.#error) throw this.#error.err;
    const { vectors: store, sink } = this.#o;
    if (batch.clear.length > 0) {
      await store.deleteByDocument(sink.vectorCollection, [...new Set(batch.clear)]);
    }
    if (batch.points.length > 0) {
      if (vectors.length !== batch.points.length) {
        throw new Error(
          `Cannot write points: the embedder returned ${vectors.length} vectors for ` +
            `${batch.points.length} chunks`,
        );
      }
      await store.upsert(
        sink.vectorCollection,
        batch.points.map((p, i) => ({ ...p, vector: vectors[i]! })),
      );
    }
    if (batch.outcomes.length === 0) return;
    await sink.record(batch.outcomes);
    this.#onRecorded?.(batch.outcomes);
  }

  async #prepare(file: PipelineFile): Promise<DocumentOutcome> {
    const { ref, path, sizeBytes, mtimeMs } = file;
    const notIndexed = (kind: "failed" | "skipped", reason: string): DocumentOutcome => {
      this.#log?.debug("document not indexed", { uri: ref.uri, status: kind, reason });
      return { kind, ref, reason, sizeBytes, mtimeMs, mimeType: null };
    };
    if (file.verifyHash) {
      try {
        const hash = await hashFile(path, { signal: this.#signal });
        if (hash === file.verifyHash) return { kind: "touched", ref, sizeBytes, mtimeMs };
      } catch (err) {
        this.#rethrowAbort(err);
        // Unreadable now: extraction below says so in its own words.
      }
    }
    let doc: ExtractedDocument;
    try {
      doc = await extractFile(path, { maxBytes: this.#o.maxFileSizeBytes, signal: this.#signal });
    } catch (err) {
      this.#rethrowAbort(err);
      if (err instanceof ExtractionError) return notIndexed(err.status, err.reason);
      return notIndexed("failed", `extraction failed: ${messageOf(err)}`);
    }
    let chunks;
    try {
      chunks = chunkDocument(doc, {
        chunkSize: this.#o.chunkSize,
        chunkOverlap: this.#o.chunkOverlap,
        tokenizer: this.#o.embedder,
      });
    } catch (err) {
      this.#rethrowAbort(err);
      return notIndexed("failed", `cannot cut the text into chunks: ${messageOf(err)}`);
    }
    if (chunks.length === 0) return notIndexed("skipped", "no text to index");
    const { collectionId, generation } = this.#o.sink;
    const records: ChunkRecord[] = chunks.map((c) => ({
      id: chunkPointId(collectionId, generation, ref.uri, c.ordinal),
      ordinal: c.ordinal,
      text: c.text,
      startOffset: c.startOffset,
      endOffset: c.endOffset,
      page: c.page ?? null,
      tokenCount: c.tokenCount,
    }));
    return {
      kind: "completed",
      ref,
      contentHash: doc.contentHash,
      sizeBytes: doc.sizeBytes,
      mtimeMs,
      mimeType: doc.mimeType,
      chunks: records,
    };
  }

  #rethrowAbort(err: unknown): void {
    if (this.#signal?.aborted) throw this.#signal.reason;
    if (err instanceof DOMException && err.name === "AbortError") throw err;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
