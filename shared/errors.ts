/**
 * Errors that callers catch by kind. An {@link AppError} carries the machine code and HTTP status
 * of docs/API.md's error shape, so a domain function deep in `shared/` can say "422 unknown_model"
 * and the API's one error handler turns it into the response body.
 */

export type ErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "path_not_allowed"
  | "address_not_allowed"
  | "unknown_model"
  | "chunk_too_large"
  | "model_mismatch"
  | "reranker_unavailable"
  | "unsupported"
  | "rate_limited"
  | "unavailable"
  | "internal";

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  path_not_allowed: 422,
  address_not_allowed: 422,
  unknown_model: 422,
  chunk_too_large: 422,
  model_mismatch: 422,
  reranker_unavailable: 422,
  unsupported: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = STATUS[code];
    this.details = details;
  }
}

/**
 * Thrown by a job handler that cannot run now but should later (GPU memory short, a dependency
 * briefly down). The queue re-schedules the job after `delayMs` without counting it as a failure.
 */
export class RetryLaterError extends Error {
  readonly delayMs: number;
  constructor(message: string, delayMs: number) {
    super(message);
    this.name = "RetryLaterError";
    this.delayMs = delayMs;
  }
}

const MAX_ERROR = 4000;

/**
 * A readable, bounded message for anything thrown: an Error's message (its name when empty), a
 * string, or the JSON of anything else; cut at `maxLength` characters.
 */
export function errorMessage(err: unknown, maxLength = MAX_ERROR): string {
  let msg: string;
  if (err instanceof Error) msg = err.message || err.name;
  else if (typeof err === "string") msg = err;
  else {
    try {
      msg = JSON.stringify(err) ?? String(err);
    } catch {
      msg = String(err);
    }
  }
  return msg.length > maxLength ? msg.slice(0, maxLength) + "…" : msg;
}

/** `err` as an Error (wrapping what is not one). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}
