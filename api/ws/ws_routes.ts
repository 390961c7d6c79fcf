/** The WebSocket routes (docs/API.md "WebSockets"); the gateway does the rest. */
import type { Context } from "hono";
import { errorMessage } from "@semantik/shared";
import type { ApiApp, ApiEnv } from "../api_env.ts";
import { isUpgradeRequest } from "./upgrade.ts";
import type { WsGateway, WsTarget } from "./ws_gateway.ts";

export function registerWsRoutes(app: ApiApp, gateway: WsGateway): void {
  app.get("/ws/operations", (c) => upgrade(c, gateway, { route: "operations" }));
  app.get("/ws/operations/:id", (c) =>
    upgrade(c, gateway, {
      route: "operation",
      operationId: c.req.param("id"),
      since: c.req.query("since"),
    }));
}

function upgrade(c: Context<ApiEnv>, gateway: WsGateway, target: WsTarget): Response {
  if (!isUpgradeRequest(c.req.raw)) {
    return c.json({
      error: {
        code: "invalid_request",
        message: `${c.req.path} takes WebSocket connections only (Upgrade: websocket)`,
      },
    }, 426);
  }
  try {
    return gateway.accept(c.req.raw, target);
  } catch (err) {
    // Deno refuses a malformed handshake (no Sec-WebSocket-Key, say).
    return c.json({
      error: {
        code: "invalid_request",
        message: `Invalid WebSocket handshake: ${errorMessage(err)}`,
      },
    }, 400);
  }
}
