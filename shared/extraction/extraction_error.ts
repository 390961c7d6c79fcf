/**
 * The one error extraction throws for a bad document. Callers record `status` and `reason` on the
 * document (docs/API.md: `skipped` = deliberately not indexed, `failed` = could not be read or
 * extracted) and carry on with the next one.
 */

/** How a document that yields no text is recorded. */
export type ExtractionStatus = "skipped" | "failed";

export class ExtractionError extends Error {
  /** `skipped`: binary, empty, too large, no text; `failed`: unreadable, corrupt, hostile. */
  readonly status: ExtractionStatus;
  /** A sentence for the user, stored as the document's `error`. */
  readonly reason: string;

  constructor(status: ExtractionStatus, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "ExtractionError";
    this.status = status;
    this.reason = reason;
  }
}
