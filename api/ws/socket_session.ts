/**
 * One accepted WebSocket: ordered sending with backpressure, the client's frames, and closing.
 *
 * Frames go straight to the socket while its unsent bytes (`bufferedAmount`) stay under a high
 * water mark; past it they wait in a {@link FrameQueue}, where superseded progress frames are
 * dropped, and a timer hands them over as the socket drains (Deno's WebSocket has no drain
 * event): soon again while the socket takes frames, backing off while it does not.
 *
 * Too slow (4008): the unsent bytes (socket and queue) stayed above the buffer limit for
 * `slowGraceMs`, or passed four times the limit. The grace lets a burst larger than the limit
 * (a replay, many operations' snapshots at once) reach a client that reads it at once: nothing
 * drains during the synchronous burst itself.
 *
 * Client frames: `{"type":"ping"}` is answered with `{"type":"pong"}`, anything else is ignored,
 * and a frame over the size limit closes with 1009. Idle sockets are kept alive by the protocol
 * pings of the WebSocket itself (Deno's `idleTimeout`), which also count any client frame as
 * activity.
 */
import { z } from "zod";
import { FrameQueue, type OutFrame } from "./frame_queue.ts";

/** The part of a WebSocket a session uses: Deno's server-side socket, or a fake in tests. */
export interface WsLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Close codes of docs/API.md and RFC 6455 the server uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
  unauthorized: 4001,
  forbidden: 4003,
  notFound: 4004,
  tooSlow: 4008,
} as const;

/** Options of {@link SocketSession}. */
export interface SocketSessionOptions {
  /** Frames go straight to the socket while its unsent bytes are below this. @default {65536} */
  highWaterBytes?: number;
  /**
   * Close with 4008 when unsent bytes (socket and queue) stay above this for `slowGraceMs`, or
   * pass four times this at any moment. @default {1048576}
   */
  bufferLimitBytes?: number;
  /** How long unsent bytes may stay above the buffer limit, in ms. @default {1000} */
  slowGraceMs?: number;
  /** Close with 1009 on a client frame larger than this many bytes. @default {65536} */
  maxClientFrameBytes?: number;
  /** Longest wait between two checks of a backed-up socket for room, in ms. @default {20} */
  drainIntervalMs?: number;
  /** Called with the number of progress frames dropped (metrics). @default {none} */
  onDrop?: (count: number) => void;
}

const OPEN = 1;
const PONG = JSON.stringify({ type: "pong" });
/** What the server reads of a client frame; the rest is the client's business. */
const clientFrame = z.looseObject({ type: z.string().max(64) });

export class SocketSession {
  readonly #socket: WsLike;
  readonly #queue = new FrameQueue();
  readonly #highWater: number;
  readonly #limit: number;
  readonly #maxClientFrame: number;
  readonly #drainMs: number;
  readonly #graceMs: number;
  /** Wait before the next drain check: short while the socket takes frames, longer when not. */
  #delay = 0;
  /** The socket's unsent bytes at the last drain check. */
  #lastBuffered = Infinity;
  /**
   * An upper bound on the socket's unsent bytes: the last look plus at most 3 bytes per UTF-16
   * unit of each frame written since (they only go down otherwise). Each look is a call into the
   * runtime; below the high-water mark the bound decides as the look would, so a socket that
   * keeps up is looked at about once per high-water mark's worth of frames, not once per frame.
   */
  #bound = 0;
  /**
   * Frames wait in the queue (the socket was backed up). Kept here, so that a frame sent straight
   * to the socket does not look at the queue at all: with thousands of sockets each one's objects
   * are cold in the cache by its next frame, and every object a frame touches costs.
   */
  #backedUp = false;
  /**
   * The last frame sent straight to the socket that the queue has not been told of yet. The queue
   * needs, per operation, only the last frame accepted (to know whether the next one changes the
   * status), and only once a frame is queued: it is told then, or when a frame of another
   * operation goes out (a socket watching several), so a socket that keeps up tells it nothing
   * per frame.
   */
  #untold: OutFrame | undefined;
  /** Since when unsent bytes have been above the limit. */
  #overSince: number | undefined;
  readonly #onDrop?: (count: number) => void;
  readonly #cleanups: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Set by closeAfterDrain: close with this once the queue is empty. */
  #closeAfter: { code: number; reason: string } | undefined;
  #closeCode: number | undefined;
  #closed = false;
  #resolveDone!: () => void;
  /** Resolves once the socket has closed (either side). */
  readonly done: Promise<void> = new Promise((r) => (this.#resolveDone = r));

  constructor(socket: WsLike, options: SocketSessionOptions = {}) {
    const {
      highWaterBytes = 64 * 1024,
      bufferLimitBytes = 1024 * 1024,
      maxClientFrameBytes = 64 * 1024,
      drainIntervalMs = 20,
      slowGraceMs = 1000,
    } = options;
    for (
      const [k, v] of Object.entries({
        highWaterBytes,
        bufferLimitBytes,
        maxClientFrameBytes,
        drainIntervalMs,
        slowGraceMs,
      })
    ) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create socket session: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    this.#socket = socket;
    this.#highWater = highWaterBytes;
    this.#limit = bufferLimitBytes;
    this.#maxClientFrame = maxClientFrameBytes;
    this.#drainMs = drainIntervalMs;
    this.#graceMs = slowGraceMs;
    this.#onDrop = options.onDrop;
  }

  /** True once the session stopped sending: the socket closed or a close was started. */
  get closed(): boolean {
    return this.#closed || this.#closeCode !== undefined;
  }

  /** The code this side closed with, if it did. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** Progress frames dropped so far. */
  get dropped(): number {
    return this.#queue.dropped;
  }

  /** Frames waiting for room on the socket. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs `fn` when the session ends (unsubscribe); at once if it already has. */
  onClose(fn: () => void): void {
    if (this.#closed) {
      runQuietly(fn);
      return;
    }
    this.#cleanups.push(fn);
  }

  /** Sends a frame in order, or queues it while the socket is backed up. */
  send(frame: OutFrame): void {
    if (this.closed || this.#closeAfter) return;
    let buffered = Infinity;
    if (!this.#backedUp) {
      buffered = this.#bound;
      if (buffered >= this.#highWater) buffered = this.#bound = this.#socket.bufferedAmount;
    }
    if (buffered < this.#highWater) {
      if (!this.#write(frame.text)) return;
      const untold = this.#untold;
      if (untold !== undefined && untold.operationId !== frame.operationId) {
        this.#queue.sent(untold);
      }
      this.#untold = frame;
      this.#bound = buffered + frame.text.length * 3;
      // The queue is empty and the unsent bytes are at most the bound: within the limit, the
      // backlog check has nothing to find, and no timer is involved.
      if (this.#bound <= this.#limit) {
        this.#overSince = undefined;
        return;
      }
    } else {
      this.#tellQueue();
      const dropped = this.#queue.push(frame);
      this.#backedUp = true;
      if (dropped > 0) this.#onDrop?.(dropped);
      this.#schedule();
    }
    this.#checkBacklog();
  }

  /** Closes with `code` once every frame accepted so far has been handed to the socket. */
  closeAfterDrain(code: number, reason = ""): void {
    if (this.closed || this.#closeAfter) return;
    this.#closeAfter = { code, reason };
    this.#pump();
  }

  /** Closes now; frames still queued are discarded. Idempotent. */
  close(code: number, reason = ""): void {
    if (this.closed) return;
    this.#closeCode = code;
    this.#stopTimer();
    this.#clearQueue();
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing or closed by the peer: the close event follows either way.
    }
    this.#runCleanups();
  }

  /** Handles a frame from the client. */
  receive(data: unknown): void {
    if (this.closed) return;
    if (isLarger(data, this.#maxClientFrame)) {
      this.close(CloseCode.tooBig, `Frames are limited to ${this.#maxClientFrame} bytes`);
      return;
    }
    if (typeof data !== "string") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    const frame = clientFrame.safeParse(parsed);
    if (frame.success && frame.data.type === "ping") this.send({ text: PONG });
  }

  /** The socket's close event (fires once or more; only the first counts). */
  handleClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    this.#clearQueue();
    this.#runCleanups();
    this.#resolveDone();
  }

  #write(text: string): boolean {
    try {
      this.#socket.send(text);
      return true;
    } catch {
      // The socket closed under us; its close event ends the session.
      this.close(CloseCode.goingAway);
      return false;
    }
  }

  #pump(): void {
    this.#timer = undefined;
    if (this.closed) return;
    let sent = 0;
    let buffered = this.#lastBuffered;
    if (this.#socket.readyState === OPEN) {
      buffered = this.#socket.bufferedAmount;
      while (this.#queue.length > 0 && buffered < this.#highWater) {
        const frame = this.#queue.shift()!;
        if (!this.#write(frame.text)) return;
        sent++;
        buffered = this.#socket.bufferedAmount;
      }
      this.#bound = buffered;
      this.#backedUp = this.#queue.length > 0;
    }
    // The socket's writes finish on later turns of the event loop: look again at once while it
    // takes frames or its unsent bytes went down since the last look (a frame larger than the
    // high-water mark keeps it above the mark for several looks while the client reads it), and
    // back off towards drainIntervalMs only while it makes no progress at all.
    const draining = sent > 0 || buffered < this.#lastBuffered;
    this.#lastBuffered = buffered;
    this.#delay = draining ? 0 : Math.min(this.#drainMs, Math.max(1, this.#delay * 2));
    this.#checkBacklog();
    if (this.closed) return;
    if (this.#queue.length > 0 || this.#overSince !== undefined) {
      this.#schedule();
    } else if (this.#closeAfter) {
      // Deno writes a socket's frames in order, so the close frame follows the last one sent.
      const { code, reason } = this.#closeAfter;
      this.close(code, reason);
    }
  }

  /** Tells the queue of the frame sent straight to the socket last, before it takes one. */
  #tellQueue(): void {
    if (this.#untold === undefined) return;
    this.#queue.sent(this.#untold);
    this.#untold = undefined;
  }

  #clearQueue(): void {
    this.#queue.clear();
    this.#untold = undefined;
    this.#backedUp = false;
  }

  #schedule(): void {
    if (this.#timer === undefined && !this.closed) {
      this.#timer = setTimeout(() => this.#pump(), this.#delay);
    }
  }

  /** Closes with 4008 when the client has been too slow for too long, or is far behind. */
  #checkBacklog(): void {
    if (this.closed) return;
    const buffered = this.#bound = this.#socket.bufferedAmount;
    const backlog = buffered + this.#queue.bytes;
    if (backlog <= this.#limit) {
      this.#overSince = undefined;
      return;
    }
    const now = performance.now();
    this.#overSince ??= now;
    if (backlog > 4 * this.#limit || now - this.#overSince >= this.#graceMs) {
      this.close(CloseCode.tooSlow, "Client too slow");
    } else {
      // Checked again even if no frame comes.
      this.#schedule();
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #runCleanups(): void {
    for (const fn of this.#cleanups.splice(0)) runQuietly(fn);
  }
}

function runQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // A cleanup must not stop the others.
  }
}

function isLarger(data: unknown, limit: number): boolean {
  if (typeof data === "string") {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: encode only when that bound passes the limit.
    if (data.length * 3 <= limit) return false;
    return new TextEncoder().encode(data).length > limit;
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength > limit;
  if (data instanceof Blob) return data.size > limit;
  return false;
}
