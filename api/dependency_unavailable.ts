/**
 * Whether an error means a service the API depends on (Postgres, Redis) cannot be reached right
 * now: refused or dropped connections, a server shutting down or starting up. docs/API.md answers
 * those with 503 ("dependency down"), which tells a client to try again, rather than 500.
 */

/** Socket-level failures (Node-style `code`) and postgres.js connection errors. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/**
 * Postgres SQLSTATEs: class 08 (connection exception), 57P01-57P03 (shutting down, crashed,
 * starting up), 53300 (too many connections).
 */
function unavailableSqlState(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === "53300";
}

/** ioredis: a command on a closed connection, or one whose reconnect retries ran out. */
function redisUnavailable(err: Error): boolean {
  return err.name === "MaxRetriesPerRequestError" || err.message === "Connection is closed.";
}

export function isDependencyUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECTION_CODES.has(code) || unavailableSqlState(code))) {
      return true;
    }
    if (redisUnavailable(e)) return true;
  }
  return false;
}
