/**
 * Live counts of a running indexing or sync operation, as the `metadata` of its progress events:
 * documents done (of `documents_total`), processed (completed), failed and skipped so far, chunks
 * written so far, the document being worked on, chunks per second and an estimate of the seconds
 * left. Writes and events stay coalesced by the task context (a few per second at most); this
 * only computes the snapshot each progress call carries.
 */

/** Options of {@link LiveProgress}. */
export interface LiveProgressOptions {
  /** Documents the operation handles (plan items plus deletions). */
  total: number;
  /** Milliseconds clock. @default {Date.now} */
  now?: () => number;
}

/** The live part of a running operation's `metadata`. */
export interface LiveMetadata extends Record<string, unknown> {
  documents_total: number;
  documents_done: number;
  documents_processed: number;
  documents_failed: number;
  documents_skipped: number;
  chunks_created: number;
  current_document: string | null;
  chunks_per_second: number;
  /** Seconds left at the rate so far; null until something is done. */
  eta_seconds: number | null;
}

export class LiveProgress {
  readonly #total: number;
  readonly #now: () => number;
  readonly #start: number;
  #done = 0;
  #processed = 0;
  #failed = 0;
  #skipped = 0;
  #chunks = 0;
  /** Chunks written of documents not recorded yet (long documents streamed in batches). */
  readonly #inFlight = new Map<string, { written: number; total: number }>();
  #current: string | null = null;

  constructor(options: LiveProgressOptions) {
    const { total, now = Date.now } = options;
    if (!Number.isInteger(total) || total < 0) {
      throw new RangeError(
        `Cannot track progress: total must be a non-negative integer, got ${total}`,
      );
    }
    this.#total = total;
    this.#now = now;
    this.#start = now();
  }

  /** The document handed to the pipeline now. */
  working(uri: string): void {
    this.#current = uri;
  }

  /** A long document's points written so far. */
  partial(options: { documentId: string; uri: string; written: number; total: number }): void {
    this.#inFlight.set(options.documentId, { written: options.written, total: options.total });
    this.#current = options.uri;
  }

  /** One document finished: completed (with its chunks), failed, skipped, or nothing to do. */
  recorded(options: {
    documentId: string;
    kind: "processed" | "failed" | "skipped" | "other";
    chunks?: number;
  }): void {
    this.#inFlight.delete(options.documentId);
    this.#done++;
    if (options.kind === "processed") this.#processed++;
    else if (options.kind === "failed") this.#failed++;
    else if (options.kind === "skipped") this.#skipped++;
    this.#chunks += options.chunks ?? 0;
  }

  snapshot(): LiveMetadata {
    const elapsedS = Math.max(0.001, (this.#now() - this.#start) / 1000);
    let chunks = this.#chunks;
    let partDone = 0;
    for (const d of this.#inFlight.values()) {
      chunks += d.written;
      if (d.total > 0) partDone += Math.min(1, d.written / d.total);
    }
    const doneFraction = Math.min(this.#total, this.#done + partDone);
    const left = Math.max(0, this.#total - doneFraction);
    const eta = doneFraction > 0 ? (elapsedS * left) / doneFraction : left === 0 ? 0 : null;
    return {
      documents_total: this.#total,
      documents_done: this.#done,
      documents_processed: this.#processed,
      documents_failed: this.#failed,
      documents_skipped: this.#skipped,
      chunks_created: chunks,
      current_document: this.#current,
      chunks_per_second: Math.round((chunks / elapsedS) * 100) / 100,
      eta_seconds: eta === null ? null : Math.round(eta),
    };
  }
}
