/**
 * The runtime-specific part of WebSockets: Deno's native upgrade. `hono/deno`'s helper echoes
 * whichever subprotocol the client lists first (and is deprecated); docs/API.md requires echoing
 * exactly the `access_token.<jwt>` one, so the upgrade is done here with the protocol chosen.
 */

/** Whether `req` asks for a WebSocket upgrade. */
export function isUpgradeRequest(req: Request): boolean {
  return req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** Options of {@link upgradeSocket}. */
export interface UpgradeOptions {
  /** The subprotocol to select (echoed in the 101 response). @default {none} */
  protocol?: string;
  /**
   * Protocol-level keepalive, in seconds: Deno pings a socket silent for half of this and closes
   * it when the other half passes without any frame from the client. @default {60}
   */
  idleTimeoutS?: number;
}

/** Upgrades `req` (which must be an upgrade request) to a server-side WebSocket. */
export function upgradeSocket(
  req: Request,
  options: UpgradeOptions = {},
): { socket: WebSocket; response: Response } {
  const { protocol, idleTimeoutS = 60 } = options;
  return Deno.upgradeWebSocket(req, {
    ...(protocol ? { protocol } : {}),
    idleTimeout: idleTimeoutS,
  });
}
