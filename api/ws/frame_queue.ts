/**
 * The frames a socket could not send yet, in order. Under backpressure a queued
 * `OPERATION_PROGRESS` frame is dropped when a newer one of the same operation arrives with the
 * same status: the newer one carries everything the client needs. A progress frame that changes
 * the operation's status, snapshots, terminal frames and pongs are never dropped.
 */

/** One outgoing text frame. */
export interface OutFrame {
  /** The frame's JSON text. */
  readonly text: string;
  /** The operation it is about; undefined for frames of the protocol itself (pong). */
  readonly operationId?: string;
  /** The frame's `type`. */
  readonly type?: string;
  /** The operation's status in the frame. */
  readonly status?: string;
}

interface OpState {
  readonly id: string;
  /** Its last queued slot, while that is still queued. */
  slot: Slot | undefined;
  /** The status of the last frame accepted for it. */
  status: string | undefined;
}

interface Slot {
  frame: OutFrame | undefined;
  /** A later progress frame of the same operation and status may replace this one. */
  supersedable: boolean;
}

export class FrameQueue {
  #slots: Slot[] = [];
  #head = 0;
  #bytes = 0;
  #length = 0;
  #dropped = 0;
  /**
   * Per operation: its last queued slot and the status of the last frame accepted for it. The first
   * operation's state sits in a field of its own, the others' in a map: most sockets follow one
   * operation, and a frame then costs them a string comparison, not a map lookup.
   */
  #sole: OpState | undefined;
  #ops = new Map<string, OpState>();

  /** Frames waiting. */
  get length(): number {
    return this.#length;
  }

  /** Characters waiting (a close bound on bytes for this JSON, which is mostly ASCII). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Progress frames dropped because a newer one superseded them. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Notes a frame that went out without queueing (the queue was empty and the socket not
   * backed up), so the next frame of its operation knows whether it changes the status. Only the
   * last such frame of an operation matters: `SocketSession` tells of that one, when a frame is
   * about to be queued or a frame of another operation went out.
   */
  sent(frame: OutFrame): void {
    this.#track(frame, undefined);
  }

  /** Queues `frame`, dropping the queued progress frame it supersedes. Returns frames dropped. */
  push(frame: OutFrame): number {
    let dropped = 0;
    const op = frame.operationId === undefined ? undefined : this.#get(frame.operationId);
    const supersedable = frame.type === "OPERATION_PROGRESS" && op !== undefined &&
      op.status === frame.status;
    if (supersedable && op.slot?.supersedable && op.slot.frame) {
      this.#remove(op.slot);
      this.#dropped++;
      dropped = 1;
    }
    const slot: Slot = { frame, supersedable };
    this.#slots.push(slot);
    this.#length++;
    this.#bytes += frame.text.length;
    this.#track(frame, slot);
    return dropped;
  }

  /** The next frame to send, without removing it. */
  peek(): OutFrame | undefined {
    this.#skipEmpty();
    return this.#slots[this.#head]?.frame;
  }

  /** Removes and returns the next frame. */
  shift(): OutFrame | undefined {
    this.#skipEmpty();
    const slot = this.#slots[this.#head];
    if (!slot?.frame) return undefined;
    const frame = slot.frame;
    this.#remove(slot);
    this.#head++;
    if (frame.operationId !== undefined && isFinal(frame)) {
      if (this.#get(frame.operationId)?.slot === undefined) this.#forget(frame.operationId);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    return frame;
  }

  /** Drops everything (the socket closed). */
  clear(): void {
    this.#slots = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#length = 0;
    this.#sole = undefined;
    this.#ops.clear();
  }

  #skipEmpty(): void {
    while (this.#head < this.#slots.length && !this.#slots[this.#head]!.frame) this.#head++;
    if (this.#head === this.#slots.length && this.#head > 0) {
      this.#slots = [];
      this.#head = 0;
    }
  }

  #remove(slot: Slot): void {
    const frame = slot.frame!;
    slot.frame = undefined;
    this.#length--;
    this.#bytes -= frame.text.length;
    if (frame.operationId !== undefined) {
      const op = this.#get(frame.operationId);
      if (op?.slot === slot) op.slot = undefined;
    }
  }

  #get(id: string): OpState | undefined {
    const sole = this.#sole;
    if (sole !== undefined && sole.id === id) return sole;
    return this.#ops.size === 0 ? undefined : this.#ops.get(id);
  }

  #forget(id: string): void {
    if (this.#sole !== undefined && this.#sole.id === id) this.#sole = undefined;
    else this.#ops.delete(id);
  }

  #track(frame: OutFrame, slot: Slot | undefined): void {
    if (frame.operationId === undefined) return;
    // Nothing follows an operation's terminal frame: forget the operation once that frame is out,
    // so a socket watching many operations keeps no entry per operation it ever saw.
    if (!slot && isFinal(frame)) {
      this.#forget(frame.operationId);
      return;
    }
    // Updated in place: a socket that keeps up allocates nothing per frame here.
    const op = this.#get(frame.operationId);
    if (op) {
      op.slot = slot;
      op.status = frame.status;
    } else {
      const state: OpState = { id: frame.operationId, slot, status: frame.status };
      if (this.#sole === undefined) this.#sole = state;
      else this.#ops.set(state.id, state);
    }
  }
}

const FINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);

function isFinal(frame: OutFrame): boolean {
  return frame.status !== undefined && FINAL_STATUSES.has(frame.status);
}

/** The frame of an operation event; `text` when it was serialised already (the hub does it once). */
export function eventFrame(
  event: { type: string; operation_id: string; status: string },
  text: string = JSON.stringify(event),
): OutFrame {
  return { text, operationId: event.operation_id, type: event.type, status: event.status };
}
