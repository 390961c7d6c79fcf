/**
 * `deno task worker:health`: exits 0 when a worker on this host beats in Redis, 1 otherwise (no
 * live worker, or Redis unreachable). For container health checks. `WORKER_HEALTH_HOST` checks
 * another host name than this one.
 */
// The light entry points: a container health check starts in a third of the time of the whole mod.
import { loadConfigOrExit } from "@semantik/shared/config";
import { checkWorkerHealth } from "./liveness.ts";

const config = loadConfigOrExit();
const host = Deno.env.get("WORKER_HEALTH_HOST") || undefined;
const r = await checkWorkerHealth(config.redis, { prefix: config.redisPrefix, host });
(r.ok ? console.log : console.error)(r.message);
Deno.exit(r.ok ? 0 : 1);
