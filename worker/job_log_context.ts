/**
 * Carries the request that started an operation into the worker's log lines: the API puts the
 * request id (`x-request-id`) into the job's metadata (`{request_id}`), and every line logged
 * while the job's handler or its hooks run carries `request_id`, whichever logger writes it. The
 * job of an operation (payload `{operation_id}`) also gets a line when it starts and when its
 * attempt ends, so that an operation always has lines to find by its request id.
 */
import { type JobRef, type Logger, type TaskHandler, withLogFields } from "@semantik/shared";

/** The log fields a job's metadata names: its request id, when it has one. */
export function jobLogFields(job: Pick<JobRef, "meta">): { request_id?: string } {
  const meta = job.meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return {};
  const id = meta.request_id;
  return typeof id === "string" && id !== "" ? { request_id: id } : {};
}

function operationIdOf(payload: unknown): string | undefined {
  const id = (payload as { operation_id?: unknown } | null)?.operation_id;
  return typeof id === "string" ? id : undefined;
}

/** `handler` with its `handle` and hooks run under the job's {@link jobLogFields}. */
export function withJobLogContext<H extends TaskHandler>(handler: H, log: Logger): H {
  const scoped = <A extends unknown[], R>(
    fn: ((...args: A) => R) | undefined,
    job: (args: A) => JobRef,
  ) => fn && ((...args: A): R => withLogFields(jobLogFields(job(args)), () => fn(...args)));
  const handle: TaskHandler["handle"] = async (payload, job) => {
    const operationId = operationIdOf(payload);
    if (operationId === undefined) return await handler.handle(payload, job);
    const fields = { task: job.name, operation_id: operationId, attempt: job.attempt };
    const started = performance.now();
    log.info("operation job started", fields);
    let outcome = "threw";
    try {
      const result = await handler.handle(payload, job);
      outcome = (result as { status?: unknown } | undefined)?.status as string ?? "done";
      return result;
    } finally {
      log.info("operation job ended", {
        ...fields,
        outcome,
        duration_ms: Math.round(performance.now() - started),
      });
    }
  };
  return {
    ...handler,
    handle: scoped(handle, (a) => a[1] as JobRef)!,
    onDead: scoped(handler.onDead?.bind(handler), (a) => a[1] as JobRef),
    onCompleted: scoped(handler.onCompleted?.bind(handler), (a) => a[1] as JobRef),
    onFailed: scoped(handler.onFailed?.bind(handler), (a) => a[1] as JobRef),
  };
}
