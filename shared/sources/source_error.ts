/**
 * The one error a source throws for the source as a whole (as opposed to one entry, which
 * becomes a `skipped` or `failed` entry): the repository or site cannot be reached, the token
 * is refused, the address is not allowed. `permanent` says whether another attempt can help,
 * so an operation fails at once on a bad token instead of being retried.
 */

/** Why a whole source could not be listed or read. */
export type SourceErrorCode =
  /** The server refused the credentials (or asked for some and none were given). */
  | "auth_failed"
  /** The repository, ref or start page does not exist. */
  | "not_found"
  /** Network trouble, a timeout or a server error: another attempt may succeed. */
  | "unreachable"
  /** The URL points where sources may not go (private network, outside DOCUMENT_ROOTS). */
  | "not_allowed"
  /** The source's own configuration or data is unusable (a bad URL, a corrupt response). */
  | "invalid";

const PERMANENT: Record<SourceErrorCode, boolean> = {
  auth_failed: true,
  not_found: true,
  unreachable: false,
  not_allowed: true,
  invalid: true,
};

export class SourceError extends Error {
  readonly code: SourceErrorCode;
  /** Another attempt cannot help (the operation should fail, not be retried). */
  readonly permanent: boolean;

  constructor(code: SourceErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SourceError";
    this.code = code;
    this.permanent = PERMANENT[code];
  }
}
