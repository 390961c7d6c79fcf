/**
 * `deno task mcp`: the MCP tools over stdio for desktop clients (Claude Desktop, Cursor), each
 * tool mapped onto the REST API of a running Semantik (issue 24). Settings: `--url` or
 * `SEMANTIK_URL` (default `http://127.0.0.1:8080`) and `--api-key` or `SEMANTIK_API_KEY`
 * (required). stdout carries the protocol; messages go to stderr.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { MCP_SERVER_INFO } from "./mcp_info.ts";
import { restBackend } from "./rest_backend.ts";
import { registerTools } from "./tools.ts";

const settingsSchema = z.object({
  url: z.url({ protocol: /^https?$/ }).default("http://127.0.0.1:8080"),
  apiKey: z.string().min(1, "an API key is required (--api-key or SEMANTIK_API_KEY)"),
});

/** The settings from flags, then the environment. */
export function stdioSettings(args: string[], env: Record<string, string | undefined>) {
  const { values } = parseArgs({
    args,
    options: { url: { type: "string" }, "api-key": { type: "string" } },
    strict: true,
  });
  return settingsSchema.parse({
    url: values.url ?? (env.SEMANTIK_URL || undefined),
    apiKey: values["api-key"] ?? env.SEMANTIK_API_KEY ?? "",
  });
}

if (import.meta.main) {
  let settings;
  try {
    settings = stdioSettings(Deno.args, Deno.env.toObject());
  } catch (err) {
    const message = err instanceof z.ZodError
      ? err.issues.map((i) => `${i.path.join(".") || "settings"}: ${i.message}`).join("; ")
      : String(err instanceof Error ? err.message : err);
    console.error(`semantik mcp: ${message}`);
    Deno.exit(2);
  }
  const server = new McpServer(MCP_SERVER_INFO);
  registerTools(server, restBackend({ url: settings.url, apiKey: settings.apiKey }), {
    onInternal: (err) => {
      console.error("semantik mcp: tool failed:", err);
    },
  });
  await server.connect(new StdioServerTransport());
  console.error(`semantik mcp: serving over stdio for ${settings.url}`);
}
