/**
 * Delivers cancellations to running handlers: every worker process subscribes to one channel;
 * a cancel request publishes the operation id, and the process running its job aborts it (job id
 * = operation id). Pub/sub can miss a message during a reconnect, so handlers also read the
 * cancel flag from Postgres at their checkpoints.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../log/logger.ts";

export class CancelListener {
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #abort: (operationId: string) => void;
  readonly #log: Logger;
  #closed = false;

  constructor(
    subscriber: Redis,
    channel: string,
    abort: (operationId: string) => void,
    log: Logger,
  ) {
    this.#sub = subscriber;
    this.#channel = channel;
    this.#abort = abort;
    this.#log = log;
    subscriber.on("message", (ch: string, message: string) => {
      if (ch !== this.#channel || !/^[0-9a-f-]{36}$/i.test(message)) return;
      try {
        this.#abort(message);
      } catch (err) {
        this.#log.warn("cannot abort cancelled job", { operation_id: message, err });
      }
    });
  }

  /** Subscribes; ioredis re-subscribes by itself after a reconnect. */
  async start(): Promise<void> {
    await this.#sub.subscribe(this.#channel);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#sub.unsubscribe(this.#channel);
    } catch { /* connection already gone */ }
    this.#sub.disconnect();
  }
}

/** Asks the worker running `operationId`'s job, wherever it is, to abort it. */
export async function publishCancel(
  redis: Redis,
  { channel, operationId }: { channel: string; operationId: string },
): Promise<void> {
  await redis.publish(channel, operationId);
}
