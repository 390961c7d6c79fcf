/**
 * A WebSocket client of `/ws/operations/{id}` that keeps dropping its connection and coming back
 * with `?since=<last event id>`, as a client on a flaky network does, and checks every frame
 * against docs/API.md's contract:
 *
 * - events carry ids 1, 2, 3, ... with no gap and no repeat across all connections;
 * - when the events it needs are no longer retained (Redis lost them), an `OPERATION_SNAPSHOT`
 *   with `event_id` = the latest id comes first: the one frame allowed to move the id forward by
 *   more than one, never backwards;
 * - it ends with a terminal frame (or a snapshot of a finished operation) and the server's 1000.
 *
 * Whatever goes wrong is recorded in {@link OperationFollower.violations}, never thrown, so a
 * scenario asserts on it once its operation has finished.
 */

/** An event frame as the server sends it. */
export interface EventFrame {
  type: string;
  event_id: number;
  operation_id: string;
  status: string;
  progress: number;
  message: string | null;
  error_message: string | null;
  metadata: Record<string, unknown> | null;
  timestamp: string;
}

/** Options of {@link OperationFollower}. */
export interface OperationFollowerOptions {
  /** `ws://host:port` of the API. */
  wsUrl: string;
  /** The user's access token. */
  token: string;
  operationId: string;
  /** Drop the connection after a random time between these bounds, in ms. @default {[400, 2500]} */
  dropAfterMs?: [number, number];
  /** Source of randomness. @default {Math.random} */
  random?: () => number;
}

/** What a follower saw, for the report. */
export interface FollowSummary {
  operationId: string;
  /** Connections opened (the first one included). */
  connections: number;
  /** Connections the client dropped on purpose. */
  drops: number;
  /** Connections the server closed before the end (other than 1000). */
  serverCloses: number[];
  /** Event frames received (snapshots included). */
  frames: number;
  snapshots: number;
  /** The last event id seen. */
  lastEventId: number;
  /** The final frame's type and status. */
  final: { type: string; status: string } | undefined;
  violations: string[];
}

const TERMINAL = new Set(["OPERATION_COMPLETED", "OPERATION_FAILED", "OPERATION_CANCELLED"]);
const FINISHED = new Set(["completed", "failed", "cancelled"]);

export class OperationFollower {
  readonly operationId: string;
  /** Every event frame received, in order, across connections. */
  readonly frames: EventFrame[] = [];
  readonly violations: string[] = [];
  connections = 0;
  drops = 0;
  readonly serverCloses: number[] = [];
  #last = 0;
  #final: EventFrame | undefined;
  #ws: WebSocket | undefined;
  #dropTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #failures = 0;
  readonly #opts: Required<OperationFollowerOptions>;
  readonly #done = Promise.withResolvers<FollowSummary>();

  constructor(options: OperationFollowerOptions) {
    const { dropAfterMs = [400, 2500], random = Math.random } = options;
    if (!(dropAfterMs[0] > 0 && dropAfterMs[1] >= dropAfterMs[0])) {
      throw new RangeError(
        `Cannot follow operation: bad dropAfterMs ${JSON.stringify(dropAfterMs)}`,
      );
    }
    this.operationId = options.operationId;
    this.#opts = { ...options, dropAfterMs, random };
    this.#connect();
  }

  /** Resolves once the operation's final frame arrived and the server closed (or on stop()). */
  get done(): Promise<FollowSummary> {
    return this.#done.promise;
  }

  /** The last event id seen. */
  get lastEventId(): number {
    return this.#last;
  }

  get summary(): FollowSummary {
    return {
      operationId: this.operationId,
      connections: this.connections,
      drops: this.drops,
      serverCloses: [...this.serverCloses],
      frames: this.frames.length,
      snapshots: this.frames.filter((f) => f.type === "OPERATION_SNAPSHOT").length,
      lastEventId: this.#last,
      final: this.#final && { type: this.#final.type, status: this.#final.status },
      violations: [...this.violations],
    };
  }

  /** Stops following (closes the socket); `done` resolves with what was seen. */
  async stop(): Promise<FollowSummary> {
    this.#stopped = true;
    clearTimeout(this.#dropTimer);
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((r) => ws.addEventListener("close", r, { once: true }));
      try {
        ws.close();
      } catch { /* closing */ }
      await closed;
    }
    this.#done.resolve(this.summary);
    return this.summary;
  }

  #connect(): void {
    if (this.#stopped) return;
    const { wsUrl, token, operationId, dropAfterMs, random } = this.#opts;
    const since = this.#last > 0 ? `?since=${this.#last}` : "";
    const ws = new WebSocket(`${wsUrl}/ws/operations/${operationId}${since}`, [
      `access_token.${token}`,
    ]);
    this.#ws = ws;
    this.connections++;
    let dropped = false;
    ws.addEventListener("open", () => {
      this.#failures = 0;
      const [lo, hi] = dropAfterMs;
      this.#dropTimer = setTimeout(() => {
        if (this.#final || ws.readyState !== WebSocket.OPEN) return;
        dropped = true;
        this.drops++;
        ws.close();
      }, lo + random() * (hi - lo));
    });
    ws.addEventListener("message", (e) => this.#onFrame(String(e.data)));
    ws.addEventListener("error", () => {/* the close event follows */});
    ws.addEventListener("close", (e) => {
      clearTimeout(this.#dropTimer);
      if (this.#ws === ws) this.#ws = undefined;
      if (this.#stopped) return;
      if (this.#final) {
        // A drop of ours can cross the final frame on the wire: then the close code is ours.
        if (!dropped && e.code !== 1000) {
          this.violations.push(`closed with ${e.code} after the final frame, expected 1000`);
        }
        this.#done.resolve(this.summary);
        return;
      }
      if (!dropped) {
        this.serverCloses.push(e.code);
        this.#failures++;
      }
      // Come back soon; back off while the server keeps refusing (a dependency is down).
      const delay = Math.min(2000, this.#failures * 200) + random() * 100;
      this.#retryTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  #onFrame(text: string): void {
    let frame: EventFrame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.violations.push(`a frame that is not JSON: ${text.slice(0, 80)}`);
      return;
    }
    if ((frame as { type: string }).type === "pong") return;
    if (this.#final) {
      this.violations.push(`event ${frame.event_id} (${frame.type}) after the final frame`);
      return;
    }
    const id = frame.event_id;
    if (!Number.isInteger(id) || id < 1) {
      this.violations.push(`bad event_id ${id} on ${frame.type}`);
      return;
    }
    if (frame.type === "OPERATION_SNAPSHOT") {
      if (id < this.#last) this.violations.push(`snapshot ${id} went back from ${this.#last}`);
    } else if (id !== this.#last + 1) {
      this.violations.push(
        id <= this.#last
          ? `event ${id} (${frame.type}) repeated or out of order after ${this.#last}`
          : `gap: event ${id} (${frame.type}) after ${this.#last}`,
      );
    }
    this.#last = Math.max(this.#last, id);
    this.frames.push(frame);
    if (
      TERMINAL.has(frame.type) ||
      (frame.type === "OPERATION_SNAPSHOT" && FINISHED.has(frame.status))
    ) {
      this.#final = frame;
    }
  }
}
