/**
 * Tasks: a name, the queue its jobs go to, and the zod schema of its payload. The producer
 * validates before enqueueing and the worker validates again before running, so a payload that
 * does not fit never reaches a handler.
 */
import type { z } from "zod";
import { type BackoffOptions, resolveBackoff } from "../async/backoff.ts";

/** The queue of a task defined without one. */
export const DEFAULT_QUEUE = "default";

/** A task: its name, its queue and its payload schema, plus retry defaults for its jobs. */
export interface TaskDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly queue: string;
  readonly schema: S;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
}

/** Options of {@link defineTask}. */
export interface DefineTaskOptions {
  /** Queue of the task's jobs. @default {DEFAULT_QUEUE} */
  queue?: string;
  /** Attempts before a job goes to the dead letters; an enqueue may override. @default {3} */
  maxAttempts?: number;
  /** Delay between attempts; an enqueue may override. @default {exponential from 1000 ms} */
  backoff?: BackoffOptions;
}

const TASK_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Declares a task. Throws a TypeError or RangeError for a bad name or option. */
export function defineTask<S extends z.ZodType>(
  name: string,
  schema: S,
  options: DefineTaskOptions = {},
): TaskDefinition<S> {
  const { queue = DEFAULT_QUEUE, maxAttempts = 3, backoff = {} } = options;
  if (!TASK_NAME.test(name)) {
    throw new TypeError(`Cannot define task: invalid name, got ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(
      `Cannot define task ${name}: maxAttempts must be a positive integer, got ${maxAttempts}`,
    );
  }
  resolveBackoff(backoff);
  return Object.freeze({ name, queue, schema, maxAttempts, backoff });
}
