/** A WebSocket stand-in for unit tests: records frames, lets a test play a slow client. */
import type { WsLike } from "./socket_session.ts";

export class FakeSocket implements WsLike {
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  closedWith: { code?: number; reason?: string } | undefined;

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("closed");
    this.sent.push(data);
    this.bufferedAmount += data.length;
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }

  /** The code it was closed with (a getter: not narrowed by earlier asserts). */
  get code(): number | undefined {
    return this.closedWith?.code;
  }

  /** The frames sent, parsed. */
  // deno-lint-ignore no-explicit-any
  get frames(): any[] {
    return this.sent.map((t) => JSON.parse(t));
  }

  /** The client read everything. */
  drain(): void {
    this.bufferedAmount = 0;
  }
}
