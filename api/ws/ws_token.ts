/**
 * Where a WebSocket client puts its access token (docs/API.md "WebSockets"): a subprotocol
 * `access_token.<jwt>` in `Sec-WebSocket-Protocol`, which the server selects and echoes, or the
 * `token` query parameter (browsers cannot set other headers on a WebSocket).
 */

/** The subprotocol prefix that carries the token. */
export const TOKEN_PROTOCOL_PREFIX = "access_token.";

export interface WsToken {
  /** The token, when the client sent one. */
  token?: string;
  /** The subprotocol to select and echo (exactly as offered), when the token came that way. */
  protocol?: string;
}

/** Reads the token of an upgrade request. The subprotocol wins over `?token=`. */
export function wsToken(req: Request): WsToken {
  const offered = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const protocol = offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  if (protocol) {
    const token = protocol.slice(TOKEN_PROTOCOL_PREFIX.length);
    // Echo it even when empty or bad: the client then sees the close code, not a failed handshake.
    return token === "" ? { protocol } : { token, protocol };
  }
  const query = new URL(req.url).searchParams.get("token");
  return query ? { token: query } : {};
}
