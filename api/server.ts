/**
 * The runtime-specific part: serving the app with Deno.serve and shutting down gracefully
 * (stop accepting, finish in-flight requests, close).
 */
import type { Runtime } from "@semantik/shared";
import { type ApiApp, createApp, type CreateAppOptions } from "./app.ts";
import { buildServices } from "./build_services.ts";
import type { ApiServices } from "./services.ts";

export interface ApiServer {
  /** The bound address (port 0 gives a free port). */
  readonly port: number;
  readonly hostname: string;
  readonly url: string;
  readonly app: ApiApp;
  readonly services: ApiServices;
  /** Stops accepting, lets in-flight requests finish, then resolves. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startApi}. */
export interface StartApiOptions extends CreateAppOptions {
  /** @default {config.port} */
  port?: number;
  /** @default {config.host} */
  hostname?: string;
  /** Services to serve (tests); @default {buildServices(rt)} */
  services?: ApiServices;
  /** Runs first when closing, before in-flight requests are awaited (closes WebSockets). */
  beforeClose?: () => Promise<void> | void;
}

export async function startApi(rt: Runtime, options: StartApiOptions = {}): Promise<ApiServer> {
  const services = options.services ?? await buildServices(rt);
  const app = createApp(services, options);
  const { port = rt.config.port, hostname = rt.config.host } = options;
  return await new Promise((resolve) => {
    const server = Deno.serve({
      port,
      hostname,
      onListen(addr) {
        const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
          ? "127.0.0.1"
          : addr.hostname;
        const url = `http://${host}:${addr.port}`;
        rt.log.info("api listening", { url });
        let closing: Promise<void> | undefined;
        resolve({
          port: addr.port,
          hostname: addr.hostname,
          url,
          app,
          services,
          close() {
            closing ??= (async () => {
              // WebSockets never finish by themselves: close them (1001) so the server can stop.
              await services.ws?.closeAll();
              await options.beforeClose?.();
              // shutdown() stops accepting and waits for the requests in flight (aborting the
              // serve signal would reset their connections instead).
              await server.shutdown();
              await server.finished;
            })();
            return closing;
          },
        });
      },
    }, app.fetch);
  });
}
