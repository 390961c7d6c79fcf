import assert from "node:assert/strict";
import { waitFor } from "@semantik/shared/testing";
import { eventFrame } from "./frame_queue.ts";
import { CloseCode, SocketSession, type WsLike } from "./socket_session.ts";
import { FakeSocket } from "./_fake_socket.ts";

const progress = (n: number, status = "processing") =>
  eventFrame(
    { type: "OPERATION_PROGRESS", operation_id: "op", status },
    JSON.stringify({ type: "OPERATION_PROGRESS", operation_id: "op", status, n }),
  );
const ns = (s: FakeSocket) => s.sent.map((t) => JSON.parse(t).n);

Deno.test("SocketSession sends straight away while the socket keeps up", () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, { highWaterBytes: 10_000 });
  for (let i = 1; i <= 5; i++) session.send(progress(i));
  assert.deepEqual(ns(s), [1, 2, 3, 4, 5]);
  assert.equal(session.queued, 0);
  session.handleClosed();
});

Deno.test("SocketSession looks at a socket that keeps up about once per high-water mark of frames, not per frame", () => {
  /** A client that reads every frame at once; counts the looks at its unsent bytes. */
  const sent: string[] = [];
  const s = {
    readyState: 1,
    looks: 0,
    get bufferedAmount(): number {
      this.looks++;
      return 0;
    },
    send: (data: string) => void sent.push(data),
    close: () => {},
  };
  const session = new SocketSession(s, { highWaterBytes: 10_000 });
  const frames = 1000;
  for (let i = 1; i <= frames; i++) session.send(progress(i));
  assert.deepEqual(
    sent.map((t) => JSON.parse(t).n),
    Array.from({ length: frames }, (_, i) => i + 1),
  );
  // Each frame counts 3 bytes per character towards the bound; a look resets it to what is
  // unsent (nothing here): one look per 10,000 / (3 x frame length) frames.
  const perLook = Math.floor(10_000 / (3 * sent[500]!.length));
  assert.ok(
    s.looks <= Math.ceil(frames / perLook) + 1,
    `${s.looks} looks for ${frames} frames (${perLook} frames per look)`,
  );
  assert.ok(s.looks >= Math.floor(frames / (perLook + 1)), `${s.looks} looks: the bound is kept`);
  session.handleClosed();
});

Deno.test("SocketSession queues under backpressure, drops superseded progress, and catches up in order", async () => {
  const s = new FakeSocket();
  const drops: number[] = [];
  const session = new SocketSession(s, {
    highWaterBytes: 100,
    drainIntervalMs: 1,
    onDrop: (n) => drops.push(n),
  });
  session.send(progress(1));
  s.bufferedAmount = 1000; // the client stopped reading
  session.send(progress(2));
  session.send(progress(3));
  session.send(progress(4, "completed"));
  assert.deepEqual(ns(s), [1]);
  assert.equal(session.queued, 2, "2 was superseded by 3; the completion is kept");
  assert.equal(session.dropped, 1);
  assert.deepEqual(drops, [1]);
  s.drain();
  await waitFor("the queue to drain", () => session.queued === 0);
  assert.deepEqual(ns(s), [1, 3, 4]);
  session.handleClosed();
});

Deno.test("SocketSession remembers each operation's last frame sent straight away when it follows several", async () => {
  const frameOf = (op: string, n: number) =>
    eventFrame(
      { type: "OPERATION_PROGRESS", operation_id: op, status: "processing" },
      JSON.stringify({ type: "OPERATION_PROGRESS", operation_id: op, status: "processing", n }),
    );
  const s = new FakeSocket();
  const session = new SocketSession(s, { highWaterBytes: 100, drainIntervalMs: 1 });
  session.send(frameOf("a", 1));
  s.drain();
  session.send(frameOf("b", 2));
  s.bufferedAmount = 1000; // the client stopped reading
  session.send(frameOf("a", 3)); // same status as a's last frame (1): may be superseded
  session.send(frameOf("a", 4));
  assert.equal(session.dropped, 1, "3 was superseded by 4");
  s.drain();
  await waitFor("the queue to drain", () => session.queued === 0);
  assert.deepEqual(ns(s), [1, 2, 4]);
  session.handleClosed();
});

Deno.test("SocketSession sends straight away again once its queue has drained", async () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, { highWaterBytes: 100, drainIntervalMs: 1 });
  session.send(progress(1));
  s.bufferedAmount = 1000;
  session.send(progress(2, "completed"));
  assert.deepEqual(ns(s), [1]);
  s.drain();
  await waitFor("the queue to drain", () => session.queued === 0 && s.sent.length === 2);
  s.drain();
  session.send(progress(3));
  assert.deepEqual(ns(s), [1, 2, 3], "sent in the call, not by the drain timer");
  session.handleClosed();
});

const otherOp = (i: number) =>
  eventFrame({ type: "OPERATION_PROGRESS", operation_id: `op${i}`, status: "x" }, "y".repeat(100));

Deno.test("SocketSession closes with 4008 when the backlog stays over the limit past the grace", async () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, {
    highWaterBytes: 10,
    bufferLimitBytes: 500,
    slowGraceMs: 30,
    drainIntervalMs: 5,
  });
  session.send(progress(1));
  s.bufferedAmount = 450;
  // Frames of different operations cannot supersede each other: the queue grows.
  for (let i = 0; i < 3; i++) session.send(otherOp(i));
  assert.equal(session.closed, false, "a burst gets its grace");
  await waitFor("the 4008", () => session.closed);
  assert.equal(s.code, CloseCode.tooSlow);
  assert.equal(session.closeCode, CloseCode.tooSlow);
  assert.equal(session.queued, 0, "the queue is released");
  session.handleClosed();
});

Deno.test("SocketSession keeps a client that reads a burst over the limit within the grace", async () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, {
    highWaterBytes: 10,
    bufferLimitBytes: 500,
    slowGraceMs: 60_000,
    drainIntervalMs: 5,
  });
  s.bufferedAmount = 450;
  for (let i = 0; i < 10; i++) session.send(otherOp(i));
  assert.equal(session.closed, false);
  // The client reads: each check finds the socket drained and hands over the next frame.
  const reader = setInterval(() => s.drain(), 1);
  try {
    await waitFor("the queue to drain", () => session.queued === 0);
  } finally {
    clearInterval(reader);
  }
  assert.equal(session.closed, false);
  assert.equal(s.sent.length, 10);
  session.handleClosed();
});

Deno.test("SocketSession keeps looking at once while a socket drains, even above the high-water mark", async () => {
  // A client reading steadily: each look finds fewer unsent bytes, yet still above the mark.
  class Draining implements WsLike {
    readyState = 1;
    sent: string[] = [];
    looks = 0;
    buffered = 0;
    /** Each look finds 1,000 bytes fewer: the client reads between two looks. */
    get bufferedAmount(): number {
      this.looks++;
      const now = this.buffered;
      this.buffered = Math.max(0, now - 1000);
      return now;
    }
    send(data: string): void {
      this.sent.push(data);
      this.buffered += data.length;
    }
    close(): void {
      this.readyState = 2;
    }
  }
  const s = new Draining();
  const session = new SocketSession(s, {
    highWaterBytes: 10,
    bufferLimitBytes: 1_000_000,
    drainIntervalMs: 500,
  });
  session.send(progress(1));
  s.buffered = 100_000;
  session.send(otherOp(1));
  // A hundred looks of progress: at once each, where backing off to 500 ms would take 20 s.
  await waitFor("the queued frame to go out", () => session.queued === 0, {
    timeoutMs: 10_000,
    seen: () => ({ looks: s.looks, buffered: s.buffered }),
  });
  assert.equal(s.sent.length, 2);
  session.handleClosed();
});

Deno.test("SocketSession closes with 4008 at once past four times the limit", () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, { highWaterBytes: 10, bufferLimitBytes: 500 });
  s.bufferedAmount = 450;
  for (let i = 0; i < 20 && !session.closed; i++) session.send(otherOp(i));
  assert.equal(s.code, CloseCode.tooSlow);
  session.handleClosed();
});

Deno.test("SocketSession closes with 4008 at once when one frame sent straight away is past four times the limit", () => {
  const s = new FakeSocket();
  // The socket is idle and the frame goes straight to it: the backlog is the frame alone.
  const session = new SocketSession(s, { highWaterBytes: 64 * 1024, bufferLimitBytes: 500 });
  session.send(eventFrame(
    { type: "OPERATION_PROGRESS", operation_id: "op", status: "processing" },
    JSON.stringify({ type: "OPERATION_PROGRESS", message: "x".repeat(2100) }),
  ));
  assert.equal(s.sent.length, 1);
  assert.equal(s.code, CloseCode.tooSlow);
  session.handleClosed();
});

Deno.test("SocketSession answers ping with pong and ignores other frames", () => {
  const s = new FakeSocket();
  const session = new SocketSession(s);
  session.receive(JSON.stringify({ type: "ping" }));
  session.receive("not json");
  session.receive(JSON.stringify({ type: "subscribe", x: 1 }));
  session.receive(JSON.stringify([1, 2]));
  session.receive(new Uint8Array([1, 2, 3]).buffer);
  assert.deepEqual(s.sent, [JSON.stringify({ type: "pong" })]);
  assert.equal(s.closedWith, undefined);
  session.handleClosed();
});

Deno.test("SocketSession closes with 1009 on a client frame over the limit", async (t) => {
  for (
    const [name, data] of [
      ["text", "x".repeat(64 * 1024 + 1)],
      ["multi-byte text", "é".repeat(32 * 1024 + 1)],
      ["binary", new Uint8Array(64 * 1024 + 1).buffer],
    ] as const
  ) {
    await t.step(name, () => {
      const s = new FakeSocket();
      const session = new SocketSession(s);
      session.receive("é".repeat(32 * 1024)); // exactly 64 KiB: fine
      assert.equal(s.closedWith, undefined);
      session.receive(data);
      assert.equal(s.code, CloseCode.tooBig);
      session.handleClosed();
    });
  }
});

Deno.test("closeAfterDrain() closes after the queued frames went out", async () => {
  const s = new FakeSocket();
  const session = new SocketSession(s, { highWaterBytes: 100, drainIntervalMs: 1 });
  s.bufferedAmount = 1000;
  session.send(progress(1, "pending"));
  session.send(progress(2, "completed"));
  session.closeAfterDrain(CloseCode.normal, "done");
  session.send(progress(3)); // ignored: the session is ending
  assert.equal(s.closedWith, undefined);
  s.drain();
  await waitFor("the close", () => s.closedWith);
  assert.deepEqual(ns(s), [1, 2]);
  assert.deepEqual(s.closedWith, { code: CloseCode.normal, reason: "done" });
  session.handleClosed();
});

Deno.test("SocketSession runs its cleanups once, and at once when added after the end", async () => {
  const s = new FakeSocket();
  const session = new SocketSession(s);
  let runs = 0;
  session.onClose(() => runs++);
  session.close(CloseCode.goingAway);
  session.handleClosed();
  session.handleClosed();
  await session.done;
  assert.equal(runs, 1);
  session.onClose(() => runs++);
  assert.equal(runs, 2);
  assert.equal(s.code, CloseCode.goingAway);
});

Deno.test("SocketSession refuses bad options", () => {
  assert.throws(() => new SocketSession(new FakeSocket(), { bufferLimitBytes: 0 }), RangeError);
});
