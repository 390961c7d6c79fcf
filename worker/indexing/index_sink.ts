/**
 * Where an indexing pipeline records documents after writing their points: the live document
 * and chunk rows ({@link LiveIndexSink}) or a reindex's staging tables ({@link StagedIndexSink}).
 */
import type { DocumentOutcome } from "./document_outcome.ts";

export interface IndexSink {
  readonly collectionId: string;
  /** The generation written: chunk ids depend on it. */
  readonly generation: number;
  /** The physical vector collection the points go to. */
  readonly vectorCollection: string;
  /**
   * Records outcomes whose points are already written, in one transaction: a document and its
   * chunk rows become visible together.
   */
  record(outcomes: readonly DocumentOutcome[]): Promise<void>;
  /**
   * After a stop: these documents' points were deleted because their outcome was never recorded;
   * make their rows say so (no chunk rows, nothing counted), so that the next run indexes them.
   */
  discardUnrecorded(documentIds: readonly string[]): Promise<void>;
}
