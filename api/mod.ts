/** @semantik/api: the HTTP/WebSocket application, its services and its server. */
export {
  type ApiApp,
  type ApiEnv,
  createApp,
  type CreateAppOptions,
  MAX_BODY_BYTES,
} from "./app.ts";
export { buildServices, type BuildServicesOptions } from "./build_services.ts";
export type { ApiServices, DeadLetterJson, ReadinessReport } from "./services.ts";
export { type ApiServer, startApi, type StartApiOptions } from "./server.ts";
