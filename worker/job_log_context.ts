/**
 * Carries the request that started an operation into the worker's log lines: the API puts the
 * request id (`x-request-id`) into the job's metadata (`{request_id}`), and every line logged
 * while the job's handler or its hooks run carries `request_id`, whichever logger writes it.
 */
import { type JobRef, type TaskHandler, withLogFields } from "@semantik/shared";

/** The log fields a job's metadata names: its request id, when it has one. */
export function jobLogFields(job: Pick<JobRef, "meta">): { request_id?: string } {
  const meta = job.meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return {};
  const id = meta.request_id;
  return typeof id === "string" && id !== "" ? { request_id: id } : {};
}

/** `handler` with its `handle` and hooks run under the job's {@link jobLogFields}. */
export function withJobLogContext<H extends TaskHandler>(handler: H): H {
  const scoped = <A extends unknown[], R>(
    fn: ((...args: A) => R) | undefined,
    job: (a: A) => JobRef,
  ) => fn && ((...args: A): R => withLogFields(jobLogFields(job(args)), () => fn(...args)));
  return {
    ...handler,
    handle: scoped(handler.handle.bind(handler), (a) => a[1] as JobRef)!,
    onDead: scoped(handler.onDead?.bind(handler), (a) => a[1] as JobRef),
    onCompleted: scoped(handler.onCompleted?.bind(handler), (a) => a[1] as JobRef),
    onFailed: scoped(handler.onFailed?.bind(handler), (a) => a[1] as JobRef),
  };
}
