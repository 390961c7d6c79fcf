/**
 * Keys of the event streams. They share the `{ops}` hash tag, so the publish script's keys live in
 * one Redis Cluster slot.
 */
import type { KeySpace } from "../redis/redis.ts";

/**
 * Each API process's hub reads the global stream through a consumer group of its own, named
 * `hub:<hubId>`; cleanup removes the groups whose hub heartbeat is gone.
 */
const HUB_GROUP_PREFIX = "hub:";

/** The consumer group of hub `hubId` on the global stream. */
export function hubGroupName(hubId: string): string {
  return HUB_GROUP_PREFIX + hubId;
}

/** The hub id a group name belongs to, or undefined when it is not a hub's group. */
export function hubIdOfGroup(group: string): string | undefined {
  return group.startsWith(HUB_GROUP_PREFIX) && group.length > HUB_GROUP_PREFIX.length
    ? group.slice(HUB_GROUP_PREFIX.length)
    : undefined;
}

export class EventKeys {
  /** The global stream every API process's hub reads. */
  readonly global: string;
  /**
   * How many entries were ever added to the global stream; each entry carries its position as
   * `g`, so a hub can tell that it missed entries.
   */
  readonly globalCount: string;
  /** Pub/sub channel of cancellation requests for running operations. */
  readonly cancelChannel: string;
  readonly #keys: KeySpace;

  constructor(keys: KeySpace) {
    this.#keys = keys;
    this.global = keys.key("{ops}", "events");
    this.globalCount = keys.key("{ops}", "events", "g");
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
