/**
 * A real worker process for the indexing tests: the project's runtime and every registered
 * handler (`buildHandlers`), configured from the environment like `deno task worker`, with test
 * lease settings. Prints `ready` once it reads jobs; exits like the worker on SIGTERM.
 *
 * Environment: the project's settings (DATABASE_URL, VECTOR_DATABASE_URL, REDIS_URL,
 * REDIS_PREFIX, MODELS_DIR, DEFAULT_EMBEDDING_MODEL, DOCUMENT_ROOTS, ...) plus LEASE_MS (default
 * 1500), BATCH_DELAY_MS (default 0): a pause before every model batch, and
 * PAUSE_AFTER_BATCHES (default: never): after admitting that many model batches the worker admits
 * no more (its jobs stay held, their leases kept), so that a test can catch an operation in the
 * middle for certain, however slow the machine.
 */
import { loadConfigOrExit } from "../../shared/config/config.ts";
import { configureLogging } from "../../shared/log/logger.ts";
import { createRuntime } from "../../shared/runtime/runtime.ts";
import { buildHandlers } from "../../worker/build_handlers.ts";
import { Semaphore } from "../../worker/semaphore.ts";
import { exitOnSignals } from "../../worker/signals.ts";
import { startWorker } from "../../worker/start_worker.ts";

const leaseMs = Number(Deno.env.get("LEASE_MS") ?? "1500");
const batchDelayMs = Number(Deno.env.get("BATCH_DELAY_MS") ?? "0");
const pauseAfter = Number(Deno.env.get("PAUSE_AFTER_BATCHES") ?? "Infinity");
let admitted = 0;

/**
 * The worker's semaphore, slowed down by a pause before each embedding call it admits (every
 * call takes its permit through `acquire`, `run` too).
 */
class SlowSemaphore extends Semaphore {
  override async acquire(signal?: AbortSignal): Promise<() => void> {
    await new Promise((r) => setTimeout(r, batchDelayMs));
    if (++admitted > pauseAfter) await new Promise(() => {});
    return await super.acquire(signal);
  }
}

const config = loadConfigOrExit();
configureLogging({ level: config.logLevel, format: "pretty" });
const rt = await createRuntime(config, { role: "indexing-worker" });
const worker = await startWorker(rt, {
  registry: (ctx) =>
    buildHandlers(
      batchDelayMs > 0 || Number.isFinite(pauseAfter)
        ? { ...ctx, embeddingSemaphore: new SlowSemaphore(ctx.embeddingSemaphore.permits) }
        : ctx,
    ),
  overrides: {
    queueOptions: {
      leaseMs,
      heartbeatMs: Math.max(50, Math.floor(leaseMs / 5)),
      reclaimIntervalMs: Math.max(50, Math.floor(leaseMs / 4)),
      blockMs: 300,
      delayedPollMs: 100,
    },
  },
});
exitOnSignals({ log: rt.log, close: (force) => (force ? worker.close(true) : rt.close()) });
console.log("ready");
