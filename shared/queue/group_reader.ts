/**
 * Reading a stream through a consumer group, one way for every reader (the queue's workers, the
 * API's operation hub): create the group (an existing one is fine), read with `XREADGROUP`, and
 * tell the errors apart that mean the stream or group is gone.
 */
import type { Redis } from "ioredis";

/** Whether a Redis error says the consumer group exists already (`XGROUP CREATE`). */
export function isBusyGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("BUSYGROUP");
}

/**
 * Whether a Redis error says the stream or its consumer group does not exist (after a flush), or
 * that a blocked read ended because its stream was deleted (read again, which says `NOGROUP`).
 */
export function isNoGroup(err: unknown): boolean {
  return err instanceof Error &&
    (err.message.startsWith("NOGROUP") || err.message.startsWith("UNBLOCKED"));
}

/** Options of {@link ensureGroup}. */
export interface EnsureGroupOptions {
  stream: string;
  group: string;
  /** Where a new group starts reading. @default {"0"}: entries added before it are delivered. */
  from?: string;
}

/** Creates the consumer group (and the stream) unless the group exists. */
export async function ensureGroup(redis: Redis, options: EnsureGroupOptions): Promise<void> {
  const { stream, group, from = "0" } = options;
  try {
    await redis.call("XGROUP", ["CREATE", stream, group, from, "MKSTREAM"]);
  } catch (err) {
    if (!isBusyGroup(err)) throw err;
  }
}

/** Options of {@link readGroup}. */
export interface ReadGroupOptions {
  stream: string;
  group: string;
  consumer: string;
  /** Entries at most. */
  count: number;
  /** `>` for new entries, an id for this consumer's pending ones after it. @default {">"} */
  from?: string;
  /** Wait this long for an entry, in ms. @default {undefined}: do not block */
  blockMs?: number;
  /** Deliver without adding to the pending list (`NOACK`). @default {false} */
  noAck?: boolean;
}

/** One stream entry: its id and its fields (`[k1, v1, k2, v2, ...]`). */
export type StreamEntry = [id: string, fields: string[]];

/** Reads entries of `stream` for `consumer` of `group`; an empty list when none came. */
export async function readGroup(redis: Redis, options: ReadGroupOptions): Promise<StreamEntry[]> {
  const { stream, group, consumer, count, from = ">", blockMs, noAck = false } = options;
  const args: (string | number)[] = ["GROUP", group, consumer, "COUNT", count];
  if (blockMs !== undefined) args.push("BLOCK", blockMs);
  if (noAck) args.push("NOACK");
  args.push("STREAMS", stream, from);
  // The typed command, not `call`: on RESP3 connections it turns the reply's map back into the
  // `[[stream, entries]]` shape.
  const read = redis.xreadgroup as unknown as (
    ...a: (string | number)[]
  ) => Promise<[string, StreamEntry[]][] | null>;
  const reply = await read.apply(redis, args);
  return reply?.[0]?.[1] ?? [];
}
