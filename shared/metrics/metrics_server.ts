/**
 * The HTTP endpoint of a process without the API (a worker, the scheduler): `GET /metrics`
 * (Prometheus text; `Authorization: Bearer <METRICS_TOKEN>` when that is set), `GET /healthz`
 * (200 while the process runs) and `GET /readyz` (200 when its dependencies answer, else 503 with
 * the failing checks). Errors have the API's shape `{error: {code, message}}`.
 */
import type { Registry } from "prom-client";
import type { Logger } from "../log/logger.ts";
import { type Config, DEFAULT_METRICS_PORTS } from "../config/config.ts";
import { errorMessage } from "../errors.ts";
import { withTimeout } from "../async/with_timeout.ts";

/** One readiness check's result. */
export interface ReadinessCheck {
  ok: boolean;
  reason?: string;
}

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** @default {"127.0.0.1"} */
  hostname?: string;
  /** Bearer token `/metrics` requires. @default {none} */
  token?: string;
  /** Named readiness checks for `/readyz`. @default {{}} */
  readiness?: () => Promise<Record<string, ReadinessCheck>>;
  /** @default {none} */
  log?: Logger;
}

/** A running endpoint. */
export interface MetricsServer {
  readonly port: number;
  /** `http://host:port` (127.0.0.1 when listening on every address). */
  readonly url: string;
  /** Stops listening; in-flight scrapes finish. Idempotent. */
  close(): Promise<void>;
}

const json = (body: unknown, status: number) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** Starts the endpoint; resolves once it listens. */
export function serveMetrics(
  registry: Registry,
  options: ServeMetricsOptions,
): Promise<MetricsServer> {
  const { port, hostname = "127.0.0.1", token, readiness = () => Promise.resolve({}), log } =
    options;
  const handler = async (req: Request): Promise<Response> => {
    const { pathname } = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return json(
        { error: { code: "method_not_allowed", message: `${req.method} not allowed` } },
        405,
      );
    }
    if (pathname === "/metrics") {
      if (token && req.headers.get("authorization") !== `Bearer ${token}`) {
        return json(
          { error: { code: "unauthorized", message: "Missing or wrong metrics token" } },
          401,
        );
      }
      return new Response(await registry.metrics(), {
        headers: { "content-type": registry.contentType },
      });
    }
    if (pathname === "/healthz") return json({ status: "ok" }, 200);
    if (pathname === "/readyz") {
      const checks: Record<string, ReadinessCheck> = await readiness();
      const ok = Object.values(checks).every((c) => c.ok);
      return json({ status: ok ? "ready" : "unavailable", checks }, ok ? 200 : 503);
    }
    return json(
      { error: { code: "not_found", message: `No route for ${req.method} ${pathname}` } },
      404,
    );
  };
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        port,
        hostname,
        onListen(addr) {
          const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
            ? "127.0.0.1"
            : addr.hostname;
          const url = `http://${host}:${addr.port}`;
          log?.info("metrics listening", { url: `${url}/metrics` });
          let closing: Promise<void> | undefined;
          resolve({
            port: addr.port,
            url,
            close() {
              closing ??= server.shutdown();
              return closing;
            },
          });
        },
      }, handler);
    } catch (err) {
      reject(
        new Error(`Cannot serve metrics on ${hostname}:${port}: ${(err as Error).message}`, {
          cause: err,
        }),
      );
    }
  });
}

/**
 * The endpoint of a worker or scheduler process as its settings say: on `HOST`, `METRICS_PORT`
 * (the role's default when unset; none when `off`), behind `METRICS_TOKEN`.
 */
export function serveRoleMetrics(
  config: Pick<Config, "host" | "metricsPort" | "metricsToken">,
  { role, registry, ...options }: Pick<ServeMetricsOptions, "readiness" | "log"> & {
    role: keyof typeof DEFAULT_METRICS_PORTS;
    registry: Registry;
  },
): Promise<MetricsServer | undefined> {
  const port = config.metricsPort ?? DEFAULT_METRICS_PORTS[role];
  if (port === "off") return Promise.resolve(undefined);
  return serveMetrics(registry, {
    ...options,
    port,
    hostname: config.host,
    token: config.metricsToken,
  });
}

/** A readiness check of `fn`: ok when it resolves within `ms`, else the reason. */
export async function checkWithin(fn: () => Promise<unknown>, ms = 3000): Promise<ReadinessCheck> {
  try {
    await withTimeout(fn(), ms);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}
