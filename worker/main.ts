/**
 * `deno task worker`: consumes the queues of `WORKER_QUEUES` until SIGTERM/SIGINT, then stops
 * fetching, lets running jobs finish within `WORKER_SHUTDOWN_TIMEOUT_S`, leaves the rest for
 * other workers and exits 0. A second signal aborts the running jobs at once. Serves `/metrics`,
 * `/healthz` and `/readyz` on `METRICS_PORT` (9464 by default).
 *
 * `worker/main.ts health` runs the health check instead (`deno task worker:health`), so that a
 * compiled worker binary can check itself: `semantik-worker health`.
 */
import {
  checkWithin,
  configureLogging,
  createRuntime,
  loadConfigOrExit,
  serveRoleMetrics,
} from "@semantik/shared";
import { exitOnSignals } from "./signals.ts";
import { startWorker } from "./start_worker.ts";

if (Deno.args[0] === "health") {
  await import("./health.ts");
} else {
  const config = loadConfigOrExit();
  configureLogging({
    level: config.logLevel,
    format: config.environment === "production" ? "json" : "pretty",
  });
  const rt = await createRuntime(config, { role: "worker" });
  const worker = await startWorker(rt);
  let stopping = false;
  const endpoint = await serveRoleMetrics(config, {
    role: "worker",
    registry: rt.metrics,
    log: rt.log,
    readiness: async () => {
      const [redis, database] = await Promise.all([
        checkWithin(() => rt.redis.ping()),
        checkWithin(() => rt.db.query("select 1")),
      ]);
      const reading = stopping
        ? { ok: false, reason: "the worker is shutting down" }
        : { ok: true };
      return { redis, database, worker: reading };
    },
  });
  // Closed first (last registered, first run): scrapes stop before the worker does.
  rt.onClose(() => endpoint?.close());
  exitOnSignals({
    log: rt.log,
    // The runtime's close closes the worker first (gracefully), then Redis and the database.
    close: (force) => {
      stopping = true;
      return force ? worker.close(true) : rt.close();
    },
  });
}
