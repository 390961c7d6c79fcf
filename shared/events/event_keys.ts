/**
 * Keys of the event streams. They share the `{ops}` hash tag, so the publish script's keys live in
 * one Redis Cluster slot.
 */
import type { KeySpace } from "../redis/redis.ts";

export class EventKeys {
  /** The global stream every API process's hub reads. */
  readonly global: string;
  /** Pub/sub channel of cancellation requests for running operations. */
  readonly cancelChannel: string;
  readonly #keys: KeySpace;

  constructor(keys: KeySpace) {
    this.#keys = keys;
    this.global = keys.key("{ops}", "events");
    this.cancelChannel = keys.key("{ops}", "cancel");
  }

  /** One operation's stream; entry ids are `<event id>-0`. */
  stream(operationId: string): string {
    return this.#keys.key("{ops}", "op", operationId);
  }

  /** One operation's event id counter. */
  seq(operationId: string): string {
    return this.#keys.key("{ops}", "seq", operationId);
  }

  /** Liveness key of an API process's hub (its consumer group is named after it). */
  hubHeartbeat(hubId: string): string {
    return this.#keys.key("{ops}", "hub", hubId);
  }
}
