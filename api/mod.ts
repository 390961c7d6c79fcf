/** @semantik/api: the HTTP/WebSocket application and its server. */
export { type ApiEnv, createApp } from "./app.ts";
export { type ApiServer, startApi, type StartApiOptions } from "./server.ts";
