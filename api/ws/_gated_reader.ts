/**
 * A hub reader connection whose reads a test can hold back (tests only): while the gate is shut,
 * the hub's next XREADGROUP waits before it is sent, so a test can publish, trim or flush at a
 * moment when the hub is known not to be reading.
 */
import { Redis } from "ioredis";
import { waitFor } from "@semantik/shared/testing";

export class ReadGate {
  #shut: PromiseWithResolvers<void> | undefined;
  /** Whether the hub is waiting at the shut gate (not in the middle of a read). */
  parked = false;
  /** Connections opened through {@link open}. */
  readonly connections: Redis[] = [];

  /** Shuts the gate and resolves once the hub waits at it. */
  async shut(): Promise<void> {
    this.#shut ??= Promise.withResolvers();
    await waitFor("the hub to wait before its next read", () => this.parked, {
      timeoutMs: 5000,
      intervalMs: 5,
    });
  }

  /** Lets the hub read again. */
  open(): void {
    this.#shut?.resolve();
    this.#shut = undefined;
  }

  /** Opens a reader connection whose reads go through this gate. */
  reader(url: string): Redis {
    const conn = new Redis(url, { maxRetriesPerRequest: null, connectionName: "hub-test" });
    this.connections.push(conn);
    return new Proxy(conn, {
      get: (target, prop) => {
        if (prop === "xreadgroup") {
          return async (...args: unknown[]) => {
            while (this.#shut) {
              this.parked = true;
              await this.#shut.promise;
            }
            this.parked = false;
            return await (target.xreadgroup as (...a: unknown[]) => Promise<unknown>)(...args);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }

  disconnectAll(): void {
    this.open();
    this.connections.forEach((c) => c.disconnect());
  }
}
