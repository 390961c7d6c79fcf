/**
 * The path of a document: extract -> chunk -> embed -> upsert -> record. Documents stream
 * through one at a time, their chunks are batched across documents for the embedder, and the
 * three kinds of work overlap: while the model embeds one batch (in its inference thread), this
 * thread extracts and chunks the next documents, and the batch before is written (points, then
 * rows). At most `prefetchBatches` batches are in flight, so memory stays bounded. A batch's
 * embedding call starts once the one before has its last model batch in the model (the embedder's
 * `onStarted`; the embedding permit passes with it), so the model's sessions never wait for the
 * end of a call while the next batch is ready; writes stay in order. A batch's points are written
 * as its model batches end (the embedder's `onVectors`), in pieces of at least
 * {@link STREAMED_WRITE_POINTS}, once the batches before it are written: when the last call ends,
 * only its last few vectors are left to write.
 *
 * Order of writes, per batch: the points of documents that may have old ones are deleted (by
 * `document_id`), the new points are upserted, then the sink records the documents whose last
 * chunk was in the batch, with their chunk rows, in one transaction. A crash between the two
 * leaves points without rows; the next run deletes them first, since a document is only recorded
 * `completed` after its points are in.
 *
 * Stopped early ({@link IndexingPipeline.abort} with `discardUnrecorded`), it removes what it
 * wrote for documents it had not recorded yet: a document longer than a batch has points (and has
 * had its old points cleared) before its last batch records it. Their points are deleted and the
 * sink forgets their rows ({@link IndexSink.discardUnrecorded}), so the chunk count and the
 * vector count agree when the operation ends, however it ends.
 *
 * A bad document (unreadable, binary, corrupt, unchunkable) becomes a `failed` or `skipped`
 * outcome with its reason; only infrastructure failures (the model, the vector store, the
 * database) and aborts stop the pipeline.
 *
 * A large plain-text file (`streamTextAboveBytes`) is never held whole: it is read, decoded and
 * chunked a window at a time (`streamTextFile`, `ChunkStream`, the same chunks as whole), its
 * chunks go into batches as they come, and the reader waits while `prefetchBatches` batches are
 * in flight; `onDocumentProgress` says how far its embedding is.
 */
import { basename } from "node:path";
import {
  type Chunk,
  chunkDocument,
  ChunkStream,
  type DocumentSource,
  type Embedder,
  type EntryRef,
  errorMessage,
  type ExtractedDocument,
  extractEntry,
  extractFile,
  ExtractionError,
  hashFile,
  type Logger,
  streamTextFile,
  type TextFileStream,
  type VectorPoint,
  type VectorStore,
} from "@semantik/shared";
import type { ChunkRecord, DocumentOutcome } from "./document_outcome.ts";
import { chunkPointId } from "./ids.ts";
import type { IndexSink } from "./index_sink.ts";
import type { DocumentRef } from "./plan_indexing.ts";

/** What the pipeline uses of a model. */
export type PipelineEmbedder =
  & Pick<Embedder, "embedTexts" | "countTokens">
  & Partial<Pick<Embedder, "batchTokens">>;

/** Guards model batches (the worker's embedding semaphore). */
export interface EmbeddingGate {
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Waits for a permit; returns the function that gives it back (once: later calls do nothing). */
  acquire(signal?: AbortSignal): Promise<() => void>;
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
  /** DOCUMENT_ROOTS: a file that no longer resolves inside them when opened is skipped. */
  documentRoots: readonly string[];
  /** Held around every model batch. @default {none} */
  gate?: EmbeddingGate;
  /** Stops extraction and embedding between steps. @default {none} */
  signal?: AbortSignal;
  /**
   * Most chunks per embedding call (and per write). A batch goes before it is full when the
   * embedder runs out of work: see {@link IndexingPipeline}. @default {128}
   */
  batchChunks?: number;
  /** Batches cut but not yet written, at most (the embedder's queue). @default {3} */
  prefetchBatches?: number;
  /** Outcomes recorded together at most, when documents have no chunks. @default {256} */
  maxOutcomesPerBatch?: number;
  /** Called after each batch is recorded. @default {none} */
  onRecorded?: (outcomes: readonly DocumentOutcome[]) => void;
  /**
   * Plain-text files of at least this many bytes are streamed (read and chunked a window at a
   * time) instead of read whole.
   * @default {4194304} (4 MiB)
   */
  streamTextAboveBytes?: number;
  /** Called as the chunks of a streamed document are written. @default {none} */
  onDocumentProgress?: (progress: DocumentProgress) => void;
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
  /**
   * Read it through this source (a Git repository, a web site) instead of from `path`: the
   * bytes of the entry's change token, from the source's local copy. Never streamed.
   * @default {a file at `path`}
   */
  entry?: { source: DocumentSource; ref: EntryRef & { mimeType?: string | null } };
}

/** How far a streamed document is. */
export interface DocumentProgress {
  ref: DocumentRef;
  /** Chunks of the document whose points are written. */
  chunksWritten: number;
  /** All its chunks: exact once it is read to the end, else estimated from the bytes read. */
  chunksTotal: number;
  totalKnown: boolean;
  /** "Embedding huge.txt: 1200 of 5200 chunks" ("of about 5200" while estimated). */
  message: string;
}

interface StreamedDocument {
  ref: DocumentRef;
  name: string;
  stream: TextFileStream;
  queued: number;
  written: number;
  chunked: boolean;
}

interface Batch {
  texts: string[];
  /** Content tokens of each text (the chunk's count). */
  tokens: number[];
  points: Omit<VectorPoint, "vector">[];
  /** Documents whose old points go before this batch's are written. */
  clear: string[];
  /** Recorded once this batch's points are in. */
  outcomes: DocumentOutcome[];
}

const newBatch = (): Batch => ({ texts: [], tokens: [], points: [], clear: [], outcomes: [] });

/**
 * Batches handed to the embedder and not embedded yet, below which the open batch goes as soon as
 * it holds one model batch of tokens: one running and one waiting, so the model never waits for
 * extraction, and later batches grow with what extraction makes while one embeds.
 */
const EMBED_QUEUE = 2;

/**
 * Points of a call still embedding are written once at least this many have their vectors: a
 * long call's write then overlaps its embedding, so little is left to write when the last call
 * ends (the operation's end waits for it), and each write still carries enough points that the
 * store's cost per statement or request stays small beside its cost per point.
 */
const STREAMED_WRITE_POINTS = 32;

/** A vector of a batch, by the position of its point. */
interface ReadyVector {
  index: number;
  vector: Float32Array;
}

/**
 * The vectors of one embedding call as its model batches end (`onVectors`), for the batch's
 * write to take in pieces while the call runs; {@link VectorFeed.rest} gives what was not taken.
 */
class VectorFeed {
  readonly #taken: Uint8Array;
  #ready: ReadyVector[] = [];
  #arrived = Promise.withResolvers<boolean>();

  constructor(points: number) {
    this.#taken = new Uint8Array(points);
  }

  add(indices: readonly number[], vectors: readonly Float32Array[]): void {
    indices.forEach((index, k) => this.#ready.push({ index, vector: vectors[k]! }));
    this.#arrived.resolve(true);
  }

  /** Every vector not taken yet, once there are at least `min` (1 or more) of them. */
  take(min: number): ReadyVector[] | undefined {
    if (this.#ready.length < min) return undefined;
    const ready = this.#ready;
    this.#ready = [];
    for (const r of ready) this.#taken[r.index] = 1;
    return ready;
  }

  /** Waits for more vectors (true) or for `settled` (false), whichever comes first. */
  async arrival(settled: Promise<void>): Promise<boolean> {
    const more = await Promise.race([this.#arrived.promise, settled.then(() => false)]);
    if (more) this.#arrived = Promise.withResolvers<boolean>();
    return more;
  }

  /** The call's vectors whose points were not taken. */
  rest(vectors: readonly Float32Array[]): ReadyVector[] {
    const rest: ReadyVector[] = [];
    vectors.forEach((vector, index) => {
      if (!this.#taken[index]) rest.push({ index, vector });
    });
    return rest;
  }
}

export class IndexingPipeline {
  readonly #o: Required<
    Omit<IndexingPipelineOptions, "gate" | "signal" | "onRecorded" | "log" | "onDocumentProgress">
  >;
  readonly #onDocumentProgress: ((progress: DocumentProgress) => void) | undefined;
  /** Streamed documents not yet recorded, by id. */
  readonly #streamed = new Map<string, StreamedDocument>();
  readonly #gate: EmbeddingGate | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onRecorded: ((outcomes: readonly DocumentOutcome[]) => void) | undefined;
  readonly #log: Logger | undefined;
  #open: Batch = newBatch();
  #openTokens = 0;
  #inFlight = 0;
  /** Batches dispatched whose embedding has not ended. */
  #embedding = 0;
  #slotWaiters: (() => void)[] = [];
  /** Settles once every embedding call dispatched so far has settled. */
  #embedChain: Promise<unknown> = Promise.resolve();
  /** Resolves when the last call dispatched has all its batches in the model (or settled). */
  #embedTurn: Promise<void> = Promise.resolve();
  #writeChain: Promise<void> = Promise.resolve();
  #error: { err: unknown } | undefined;
  #finished = false;
  /**
   * Documents a write has touched in the vector store (new points, or old ones cleared) whose
   * outcome is not recorded yet.
   */
  readonly #unrecorded = new Set<string>();

  constructor(options: IndexingPipelineOptions) {
    const {
      batchChunks = 128,
      prefetchBatches = 3,
      maxOutcomesPerBatch = 256,
      streamTextAboveBytes = 4 * 1024 * 1024,
    } = options;
    for (
      const [name, v] of Object.entries({
        batchChunks,
        prefetchBatches,
        maxOutcomesPerBatch,
        streamTextAboveBytes,
      })
    ) {
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
      documentRoots: options.documentRoots,
      batchChunks,
      prefetchBatches,
      maxOutcomesPerBatch,
      streamTextAboveBytes,
    };
    this.#onDocumentProgress = options.onDocumentProgress;
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
    let verified = false;
    if (!file.entry && file.sizeBytes >= this.#o.streamTextAboveBytes) {
      if (await this.#addStreamed(file)) return;
      verified = true;
    }
    const outcome = await this.#prepare(file, verified);
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
        this.#push(c.text, c.tokenCount);
        this.#open.points.push({
          id: c.id,
          // The store indexes the text's terms for lexical retrieval.
          text: c.text,
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
    if (this.#due() || this.#open.outcomes.length >= this.#o.maxOutcomesPerBatch) {
      await this.#dispatch();
    }
  }

  #push(text: string, tokens: number): void {
    this.#open.texts.push(text);
    this.#open.tokens.push(tokens);
    this.#openTokens += tokens;
  }

  /**
   * Whether the open batch should go now: it is full, or the embedder's queue is short and the
   * batch holds at least one model batch of tokens (the embedder's `batchTokens`).
   */
  #due(): boolean {
    const n = this.#open.texts.length;
    if (n >= this.#o.batchChunks) return true;
    const tokens = this.#o.embedder.batchTokens;
    return n > 0 && tokens !== undefined && this.#embedding < EMBED_QUEUE &&
      this.#openTokens >= tokens;
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
    this.#throwIfFailed();
  }

  /**
   * Stops: batches not yet written are dropped (their documents stay as they were, for the next
   * run), and the call resolves once nothing of this pipeline runs any more. With
   * `discardUnrecorded`, the points of documents written in part (or whose old points were
   * cleared) without being recorded are then deleted, and the sink forgets their rows; leave it
   * off when another run may be writing the same documents now (a lost lease). Never throws: a
   * cleanup that fails is logged, and the next run deletes such points before writing.
   */
  async abort(
    reason: unknown = new Error("Indexing pipeline aborted"),
    options: { discardUnrecorded?: boolean } = {},
  ): Promise<void> {
    this.#error ??= { err: reason };
    this.#open = newBatch();
    this.#openTokens = 0;
    for (const w of this.#slotWaiters.splice(0)) w();
    await this.#writeChain;
    await this.#embedChain;
    if (!options.discardUnrecorded || this.#unrecorded.size === 0) return;
    const ids = [...this.#unrecorded];
    const { vectors: store, sink } = this.#o;
    try {
      await store.deleteByDocument(sink.vectorCollection, ids);
      await sink.discardUnrecorded(ids);
      this.#unrecorded.clear();
      this.#log?.info("removed the points of documents not recorded before the stop", {
        documents: ids.length,
      });
    } catch (err) {
      this.#log?.warn("cannot remove the points of documents not recorded before the stop", {
        documents: ids.length,
        err,
      });
    }
  }

  /** Documents whose points were touched but not recorded (for tests and logs). */
  get unrecordedDocuments(): number {
    return this.#unrecorded.size;
  }

  #check(): void {
    this.#throwIfFailed();
    if (this.#finished) throw new Error("Cannot use indexing pipeline: it has finished");
    this.#signal?.throwIfAborted();
  }

  async #dispatch(): Promise<void> {
    const batch = this.#open;
    this.#open = newBatch();
    this.#openTokens = 0;
    if (batch.texts.length === 0 && batch.outcomes.length === 0 && batch.clear.length === 0) {
      return;
    }
    while (this.#inFlight >= this.#o.prefetchBatches && !this.#error) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
    this.#throwIfFailed();
    this.#inFlight++;
    if (batch.texts.length > 0) this.#embedding++;
    // A call starts once the one before has its last model batch in the model (or settled):
    // sessions that finished their part of it take this call's batches instead of waiting idle.
    const started = Promise.withResolvers<void>();
    const feed = new VectorFeed(batch.points.length);
    const embedded = this.#embedTurn.then(() => this.#embed(batch, started.resolve, feed));
    const settled = embedded.catch(() => {}).finally(() => {
      started.resolve();
      if (batch.texts.length > 0) this.#embedding--;
    });
    this.#embedTurn = started.promise;
    this.#embedChain = Promise.all([this.#embedChain, settled]);
    // The previous write settles first, whatever becomes of this batch's embedding: the chain
    // must never let a later failure settle before an earlier write has finished.
    const written = this.#writeChain.then(() => this.#write(batch, embedded, feed));
    this.#writeChain = written.catch((err) => {
      this.#error ??= { err };
    }).finally(() => {
      this.#inFlight--;
      this.#slotWaiters.shift()?.();
    });
  }

  async #embed(batch: Batch, started: () => void, feed: VectorFeed): Promise<Float32Array[]> {
    this.#throwIfFailed();
    if (batch.texts.length === 0) return [];
    const release = await this.#gate?.acquire(this.#signal);
    try {
      return await this.#o.embedder.embedTexts(batch.texts, "document", {
        signal: this.#signal,
        // The permit goes with the turn: it is held by calls with batches still to hand to the
        // model; the model's sessions bound the batches that run at once.
        onStarted: () => {
          release?.();
          started();
        },
        onVectors: (indices, vectors) => feed.add(indices, vectors),
      });
    } finally {
      release?.();
    }
  }

  /**
   * Writes a batch once the batches before it are written: its points as their vectors come
   * (while the call runs, in pieces of at least {@link STREAMED_WRITE_POINTS}; the rest when it
   * ends), then its outcomes. The store is first touched (old points cleared) at the first write
   * of points, so a call that fails before any vector leaves the store as it was.
   */
  async #write(
    batch: Batch,
    embedded: Promise<Float32Array[]>,
    feed: VectorFeed,
  ): Promise<void> {
    this.#throwIfFailed();
    const { vectors: store, sink } = this.#o;
    let touched = false;
    const touch = async () => {
      if (touched) return;
      touched = true;
      // Marked before the store is touched: a write that fails halfway still leaves them dirty.
      for (const id of batch.clear) this.#unrecorded.add(id);
      for (const p of batch.points) this.#unrecorded.add(p.payload.document_id);
      if (batch.clear.length > 0) {
        await store.deleteByDocument(sink.vectorCollection, [...new Set(batch.clear)]);
      }
    };
    const upsert = async (ready: ReadyVector[]) => {
      this.#throwIfFailed();
      await touch();
      const points = ready.map((r) => batch.points[r.index]!);
      await store.upsert(
        sink.vectorCollection,
        ready.map((r, i) => ({ ...points[i]!, vector: r.vector })),
      );
      this.#reportWritten(points);
    };
    if (batch.points.length > 0) {
      const settled = embedded.then(() => {}, () => {});
      const piece = Math.min(STREAMED_WRITE_POINTS, batch.points.length);
      for (;;) {
        const ready = feed.take(piece);
        if (ready) await upsert(ready);
        else if (!(await feed.arrival(settled))) break;
      }
    }
    const vectors = await embedded;
    this.#throwIfFailed();
    if (vectors.length !== batch.points.length) {
      throw new Error(
        `Cannot write points: the embedder returned ${vectors.length} vectors for ` +
          `${batch.points.length} chunks`,
      );
    }
    await touch();
    const rest = feed.rest(vectors);
    if (rest.length > 0) await upsert(rest);
    if (batch.outcomes.length === 0) return;
    await sink.record(batch.outcomes);
    for (const o of batch.outcomes) {
      this.#streamed.delete(o.ref.id);
      this.#unrecorded.delete(o.ref.id);
    }
    this.#onRecorded?.(batch.outcomes);
  }

  /** Throws the pipeline's first failure, if any (a write goes no further after one). */
  #throwIfFailed(): void {
    if (this.#error) throw this.#error.err;
  }

  #notIndexed(file: PipelineFile, kind: "failed" | "skipped", reason: string): DocumentOutcome {
    const { ref, sizeBytes, mtimeMs } = file;
    this.#log?.debug("document not indexed", { uri: ref.uri, status: kind, reason });
    return { kind, ref, reason, sizeBytes, mtimeMs, mimeType: null };
  }

  /** Whether the file still has the hash it was recorded with (a touch). */
  async #unchanged(file: PipelineFile): Promise<boolean> {
    if (!file.verifyHash) return false;
    try {
      const hash = await hashFile(file.path, {
        documentRoots: this.#o.documentRoots,
        signal: this.#signal,
      });
      return hash === file.verifyHash;
    } catch (err) {
      this.#rethrowAbort(err);
      // Unreadable now: extraction says so in its own words.
      return false;
    }
  }

  /**
   * Streams a plain-text file through chunking into the batches. False when the file is not
   * plain text (its hash was checked: the caller extracts it whole).
   */
  async #addStreamed(file: PipelineFile): Promise<boolean> {
    const { ref, path, mtimeMs } = file;
    const queue = async (outcome: DocumentOutcome) => {
      if (outcome.kind !== "touched" && ref.mayHavePoints) this.#open.clear.push(ref.id);
      this.#open.outcomes.push(outcome);
      if (this.#open.outcomes.length >= this.#o.maxOutcomesPerBatch) await this.#dispatch();
    };
    if (await this.#unchanged(file)) {
      await queue({ kind: "touched", ref, sizeBytes: file.sizeBytes, mtimeMs });
      return true;
    }
    let stream: TextFileStream | undefined;
    try {
      stream = await streamTextFile(path, {
        documentRoots: this.#o.documentRoots,
        maxBytes: this.#o.maxFileSizeBytes,
        signal: this.#signal,
      });
    } catch (err) {
      this.#rethrowAbort(err);
      if (!(err instanceof ExtractionError)) throw err;
      await queue(this.#notIndexed(file, err.status, err.reason));
      return true;
    }
    if (!stream) return false;

    const doc: StreamedDocument = {
      ref,
      name: basename(ref.uri),
      stream,
      queued: 0,
      written: 0,
      chunked: false,
    };
    this.#streamed.set(ref.id, doc);
    if (ref.mayHavePoints) this.#open.clear.push(ref.id);
    const { collectionId, generation } = this.#o.sink;
    const records: ChunkRecord[] = [];
    let failure: DocumentOutcome | undefined;
    try {
      const chunker = new ChunkStream({
        mimeType: stream.mimeType,
        chunkSize: this.#o.chunkSize,
        chunkOverlap: this.#o.chunkOverlap,
        tokenizer: this.#o.embedder,
      });
      const blocks = stream.blocks[Symbol.asyncIterator]();
      while (!doc.chunked) {
        let chunks: Chunk[];
        try {
          const next = await blocks.next();
          chunks = next.done ? chunker.finish() : chunker.push(next.value);
          doc.chunked = next.done === true;
        } catch (err) {
          this.#rethrowAbort(err);
          failure = err instanceof ExtractionError
            ? this.#notIndexed(file, err.status, err.reason)
            : this.#notIndexed(
              file,
              "failed",
              `cannot cut the text into chunks: ${errorMessage(err)}`,
            );
          break;
        }
        for (const c of chunks) {
          // A due batch goes before the next chunk; the last chunk's batch takes the outcome.
          if (this.#due()) await this.#dispatch();
          const record: ChunkRecord = {
            id: chunkPointId(collectionId, { generation, uri: ref.uri, ordinal: c.ordinal }),
            ordinal: c.ordinal,
            text: c.text,
            startOffset: c.startOffset,
            endOffset: c.endOffset,
            page: null,
            tokenCount: c.tokenCount,
          };
          records.push(record);
          this.#push(c.text, c.tokenCount);
          this.#open.points.push({
            id: record.id,
            payload: {
              collection_id: collectionId,
              document_id: ref.id,
              uri: ref.uri,
              chunk_index: c.ordinal,
            },
          });
          doc.queued++;
        }
      }
    } finally {
      stream.close();
    }
    if (!failure && records.length === 0) {
      failure = this.#notIndexed(file, "skipped", "no text to index");
    }
    if (failure) {
      this.#streamed.delete(ref.id);
      // Points of batches already sent are deleted by this one, before it writes its own; the
      // open batch's points of this document are dropped.
      const keep = this.#open.points.map((p) => p.payload.document_id !== ref.id);
      this.#open.texts = this.#open.texts.filter((_, i) => keep[i]);
      this.#open.tokens = this.#open.tokens.filter((_, i) => keep[i]);
      this.#open.points = this.#open.points.filter((_, i) => keep[i]);
      this.#openTokens = this.#open.tokens.reduce((a, b) => a + b, 0);
      if (doc.queued > 0 || ref.mayHavePoints) this.#open.clear.push(ref.id);
      this.#open.outcomes.push(failure);
    } else {
      this.#open.outcomes.push({
        kind: "completed",
        ref,
        contentHash: stream.contentHash(),
        sizeBytes: stream.bytesRead,
        mtimeMs,
        mimeType: stream.mimeType,
        chunks: records,
      });
    }
    if (this.#due() || this.#open.outcomes.length >= this.#o.maxOutcomesPerBatch) {
      await this.#dispatch();
    }
    return true;
  }

  #reportWritten(points: Batch["points"]): void {
    if (this.#streamed.size === 0) return;
    const counts = new Map<string, number>();
    for (const p of points) {
      const id = p.payload.document_id;
      if (this.#streamed.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const [id, n] of counts) {
      const doc = this.#streamed.get(id)!;
      doc.written += n;
      const { bytesRead, sizeBytes } = doc.stream;
      const total = doc.chunked
        ? doc.queued
        : Math.max(doc.queued, Math.round((doc.queued * sizeBytes) / Math.max(1, bytesRead)));
      this.#onDocumentProgress?.({
        ref: doc.ref,
        chunksWritten: doc.written,
        chunksTotal: total,
        totalKnown: doc.chunked,
        message: `Embedding ${doc.name}: ${doc.written} of ${
          doc.chunked ? "" : "about "
        }${total} chunks`,
      });
    }
  }

  async #prepare(file: PipelineFile, verified = false): Promise<DocumentOutcome> {
    const { ref, path, sizeBytes, mtimeMs } = file;
    const notIndexed = (kind: "failed" | "skipped", reason: string): DocumentOutcome =>
      this.#notIndexed(file, kind, reason);
    if (!verified && await this.#unchanged(file)) {
      return { kind: "touched", ref, sizeBytes, mtimeMs };
    }
    let doc: ExtractedDocument;
    try {
      doc = file.entry
        ? await extractEntry(file.entry.source, file.entry.ref, {
          maxBytes: this.#o.maxFileSizeBytes,
          signal: this.#signal,
        })
        : await extractFile(path, {
          documentRoots: this.#o.documentRoots,
          maxBytes: this.#o.maxFileSizeBytes,
          signal: this.#signal,
        });
    } catch (err) {
      this.#rethrowAbort(err);
      if (err instanceof ExtractionError) return notIndexed(err.status, err.reason);
      return notIndexed("failed", `extraction failed: ${errorMessage(err)}`);
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
      return notIndexed("failed", `cannot cut the text into chunks: ${errorMessage(err)}`);
    }
    if (chunks.length === 0) return notIndexed("skipped", "no text to index");
    const { collectionId, generation } = this.#o.sink;
    const records: ChunkRecord[] = chunks.map((c) => ({
      id: chunkPointId(collectionId, { generation, uri: ref.uri, ordinal: c.ordinal }),
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
