/**
 * A hub reader connection whose reads a test can hold back (tests only): while the gate is shut,
 * the hub's next XREADGROUP waits before it is sent, so a test can publish, trim or flush at a
 * moment when the hub is known not to be reading.
 */
import type { Command, Redis } from "ioredis";
import { createRedis, type RedisTarget } from "@semantik/shared";
import { waitFor } from "@semantik/shared/testing";

export class ReadGate {
  #shut: PromiseWithResolvers<void> | undefined;
  /** Readers waiting at the shut gate (not in the middle of a read). */
  #parked = 0;
  /** Connections opened through {@link open}. */
  readonly connections: Redis[] = [];

  /**
   * Shuts the gate and resolves once every reader opened through it waits at it (a hub has one
   * reader on one node, one per event partition on a cluster).
   */
  async shut(): Promise<void> {
    this.#shut ??= Promise.withResolvers();
    const all = () => this.connections.length > 0 && this.#parked === this.connections.length;
    await waitFor("the hub's readers to wait before their next read", all, {
      timeoutMs: 5000,
      intervalMs: 5,
    });
  }

  /**
   * Makes the next read that returns entries lose its reply, as when the connection drops after
   * Redis wrote it: Redis counts the entries delivered, the hub never gets them. `"error"` fails
   * the read (a dropped connection); `"empty"` answers it with nothing, without an error;
   * `"first"` loses only the reply's first entry.
   */
  loseNextReply(how: "error" | "empty" | "first"): void {
    this.#lose = how;
  }

  /** Replies lost so far through {@link loseNextReply}. */
  lostReplies = 0;
  #lose: "error" | "empty" | "first" | undefined;

  /** Lets the hub read again. */
  open(): void {
    this.#shut?.resolve();
    this.#shut = undefined;
  }

  /** Opens a reader connection whose reads go through this gate. */
  reader(target: RedisTarget | string): Redis {
    const conn = createRedis(target, { name: "hub-test", blocking: true });
    this.connections.push(conn);
    return new Proxy(conn, {
      get: (target, prop) => {
        // The hub sends its reads as prepared commands (OperationHub's streamReader).
        if (prop === "sendCommand") {
          return async (command: Command) => {
            const send = () => target.sendCommand(command) as Promise<unknown>;
            if (command.name !== "xreadgroup") return await send();
            while (this.#shut) {
              this.#parked++;
              try {
                await this.#shut.promise;
              } finally {
                this.#parked--;
              }
            }
            const reply = await send();
            const lose = this.#lose;
            if (lose && Array.isArray(reply) && reply.length > 0) {
              this.#lose = undefined;
              this.lostReplies++;
              if (lose === "error") throw new Error("Connection is closed.");
              if (lose === "empty") return null;
              const [first, ...rest] = reply as [string, unknown[]][];
              return [[first![0], first![1].slice(1)], ...rest];
            }
            return reply;
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
