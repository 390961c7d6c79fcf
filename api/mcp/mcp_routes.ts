/**
 * `/mcp` (issue 24): the Model Context Protocol over Streamable HTTP, stateless (a fresh server
 * and transport per request; no session id), JSON answers. Authenticated like the API: a bearer
 * login token or API key, else 401. Every tool only reads, so any API key may call them (a key
 * always has at least `read`).
 */
import type { Context } from "hono";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { AppError } from "@semantik/shared";
import type { ApiApp, ApiEnv } from "../api_env.ts";
import { bearerToken } from "../middleware/auth.ts";
import type { ApiServices } from "../services.ts";
import { localBackend } from "./local_backend.ts";
import { MCP_SERVER_INFO } from "./mcp_info.ts";
import { registerTools } from "./tools.ts";

export function registerMcpRoutes(app: ApiApp, s: ApiServices): void {
  const log = s.rt.log.child({}, "mcp");
  const handle = async (c: Context<ApiEnv>) => {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) {
      throw new AppError("unauthorized", "Missing bearer token (an API key or login token)");
    }
    const auth = await s.tokens.authenticateCredential(token);
    if (!auth) throw new AppError("unauthorized", "Invalid or expired token");
    c.set("user", auth.user);
    if (c.req.method !== "POST") {
      // Stateless: no server-initiated stream (GET) and no session to end (DELETE).
      c.header("Allow", "POST");
      return c.json({
        error: {
          code: "method_not_allowed",
          message: "/mcp is stateless: send JSON-RPC messages with POST",
        },
      }, 405);
    }
    const server = new McpServer(MCP_SERVER_INFO);
    registerTools(server, localBackend(s, auth.user.id), {
      onInternal: (err) => {
        log.error("mcp tool failed", { err, user_id: auth.user.id });
      },
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      // Stateless: the answer is complete (JSON mode), nothing outlives the request.
      await server.close();
    }
  };
  app.post("/mcp", handle);
  app.get("/mcp", handle);
  app.delete("/mcp", handle);
}
