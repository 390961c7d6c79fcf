/**
 * The runtime-specific part: serving the app with Deno.serve and shutting down gracefully
 * (stop accepting, finish in-flight requests, close).
 */
import type { Runtime } from "@semantik/shared";
import { createApp } from "./app.ts";

export interface ApiServer {
  /** The bound address (port 0 gives a free port). */
  readonly port: number;
  readonly hostname: string;
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then resolves. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startApi}. */
export interface StartApiOptions {
  /** @default {config.port} */
  port?: number;
  /** @default {config.host} */
  hostname?: string;
}

export function startApi(rt: Runtime, options: StartApiOptions = {}): Promise<ApiServer> {
  const app = createApp(rt);
  const { port = rt.config.port, hostname = rt.config.host } = options;
  const ac = new AbortController();
  return new Promise((resolve) => {
    const server = Deno.serve({
      port,
      hostname,
      signal: ac.signal,
      onListen(addr) {
        const url = `http://${
          addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname
        }:${addr.port}`;
        rt.log.info("api listening", { url });
        let closing: Promise<void> | undefined;
        resolve({
          port: addr.port,
          hostname: addr.hostname,
          url,
          close() {
            closing ??= (async () => {
              ac.abort();
              await server.finished;
            })();
            return closing;
          },
        });
      },
    }, app.fetch);
  });
}
