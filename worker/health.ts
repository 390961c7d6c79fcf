/**
 * `deno task worker:health`: exits 0 when a worker on this host beats in Redis, 1 otherwise (no
 * live worker, or Redis unreachable). For container health checks. `WORKER_HEALTH_HOST` checks
 * another host name than this one.
 */
import { loadConfigOrExit } from "../shared/config/config.ts";
import { checkWorkerHealth } from "./liveness.ts";

const config = loadConfigOrExit();
const host = Deno.env.get("WORKER_HEALTH_HOST") || undefined;
const r = await checkWorkerHealth(config.redisUrl, { prefix: config.redisPrefix, host });
(r.ok ? console.log : console.error)(r.message);
Deno.exit(r.ok ? 0 : 1);
