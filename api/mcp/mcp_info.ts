/** The server's name and version in the MCP handshake (both transports). */
export const MCP_SERVER_INFO = { name: "semantik", version: "2.0.0" };
