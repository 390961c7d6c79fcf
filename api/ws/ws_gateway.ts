/**
 * The WebSocket side of an API process: accepts upgrades, authenticates, starts the watch of the
 * route, tracks open sockets (a Prometheus gauge) and closes them all with 1001 on shutdown. One
 * gateway, and so one {@link OperationHub}, per process.
 *
 * docs/API.md: the server always accepts the upgrade, then closes with a code when something is
 * wrong: 4001 missing or invalid token, 4003 not the user's operation, 4004 no such operation
 * (and for an id that is not a UUID), 1008 for a `since` that is not a non-negative integer.
 */
import type { Redis } from "ioredis";
import { Counter, Gauge, type Registry } from "prom-client";
import { z } from "zod";
import {
  type EventKeys,
  isUuid,
  type Logger,
  type Queryable,
  SnapshotReader,
} from "@semantik/shared";
import { TokenAuthenticator } from "../auth/token_authenticator.ts";
import { OperationHub, type OperationHubOptions } from "./operation_hub.ts";
import { OperationWatch, ROW_CHECK_MS, type WatchDeps } from "./operation_watch.ts";
import { CloseCode, SocketSession, type SocketSessionOptions } from "./socket_session.ts";
import { upgradeSocket } from "./upgrade.ts";
import { UserOperationsWatch } from "./user_operations_watch.ts";
import { wsToken } from "./ws_token.ts";

/** What a socket asked to watch. */
export type WsTarget =
  | { route: "operation"; operationId: string; since: string | undefined }
  | { route: "operations" };

/** What the gateway needs of the process. */
export interface WsGatewayDeps {
  db: Queryable;
  /** Command connection. */
  redis: Redis;
  /** Opens the hub's blocking connection (once). */
  openReader: () => Redis;
  keys: EventKeys;
  jwtSecret: string;
  /**
   * Checks tokens (signature, expiry, that the user exists at that token version); share the
   * API's so a password change through it takes effect here at once.
   * @default {a TokenAuthenticator over `db` and `jwtSecret`}
   */
  tokens?: TokenAuthenticator;
  log: Logger;
  /** Registry for the socket gauge and counters. @default {none: no metrics} */
  metrics?: Registry;
}

/** Options of {@link WsGateway}. */
export interface WsGatewayOptions {
  /** Protocol keepalive: a silent socket is pinged at half of this and closed at the end, in s. @default {60} */
  idleTimeoutS?: number;
  /** See `OperationWatchOptions.terminalGraceMs` (and the user watch's `eventGraceMs`). @default {2000} */
  terminalGraceMs?: number;
  /**
   * While a followed operation has no terminal frame, how often its row is re-read (events the
   * hub missed, publishes that failed), in ms. @default {ROW_CHECK_MS (15 s)}
   */
  rowCheckMs?: number;
  /** Longest wait for sockets to finish closing on shutdown, in ms. @default {3000} */
  closeTimeoutMs?: number;
  /** Backpressure and client-frame limits of each socket. @default {SocketSession's defaults} */
  session?: SocketSessionOptions;
  /** The hub's settings. @default {OperationHub's defaults} */
  hub?: OperationHubOptions;
}

const sinceParam = z.string().regex(/^\d{1,15}$/).transform(Number);

export class WsGateway {
  readonly hub: OperationHub;
  readonly #deps: WsGatewayDeps;
  readonly #tokens: TokenAuthenticator;
  readonly #watchDeps: WatchDeps;
  readonly #idleTimeoutS: number;
  readonly #graceMs: number;
  readonly #rowCheckMs: number;
  readonly #closeTimeoutMs: number;
  readonly #sessionOptions: SocketSessionOptions;
  readonly #open = new Map<SocketSession, WsTarget["route"]>();
  /** Sockets between open and live (authenticating, replaying). */
  readonly #starting = new Set<Promise<void>>();
  readonly #dropped?: Counter<"route">;
  readonly #closes?: Counter<"code">;
  #shuttingDown = false;
  #closing: Promise<void> | undefined;

  constructor(deps: WsGatewayDeps, options: WsGatewayOptions = {}) {
    const {
      idleTimeoutS = 60,
      terminalGraceMs = 2000,
      closeTimeoutMs = 3000,
      rowCheckMs = ROW_CHECK_MS,
    } = options;
    for (
      const [k, v] of Object.entries({ idleTimeoutS, terminalGraceMs, closeTimeoutMs, rowCheckMs })
    ) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create WebSocket gateway: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    this.#deps = deps;
    this.#tokens = deps.tokens ?? new TokenAuthenticator(deps.db, deps.jwtSecret);
    this.#idleTimeoutS = idleTimeoutS;
    this.#graceMs = terminalGraceMs;
    this.#rowCheckMs = rowCheckMs;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#sessionOptions = options.session ?? {};
    this.hub = new OperationHub(
      { redis: deps.redis, openReader: deps.openReader, keys: deps.keys, log: deps.log },
      options.hub,
    );
    this.#watchDeps = {
      db: deps.db,
      redis: deps.redis,
      keys: deps.keys,
      hub: this.hub,
      snapshots: new SnapshotReader(deps.db, deps.redis, deps.keys),
      log: deps.log,
    };
    if (deps.metrics) {
      const open = this.#open;
      new Gauge({
        name: "semantik_ws_connections",
        help: "Open WebSocket connections by route",
        labelNames: ["route"] as const,
        registers: [deps.metrics],
        collect() {
          const counts = { operation: 0, operations: 0 };
          for (const route of open.values()) counts[route]++;
          for (const [route, n] of Object.entries(counts)) this.set({ route }, n);
        },
      });
      this.#dropped = new Counter({
        name: "semantik_ws_dropped_frames_total",
        help: "Superseded progress frames dropped for slow WebSocket clients",
        labelNames: ["route"] as const,
        registers: [deps.metrics],
      });
      this.#closes = new Counter({
        name: "semantik_ws_server_closes_total",
        help: "WebSocket connections closed by the server, by close code",
        labelNames: ["code"] as const,
        registers: [deps.metrics],
      });
    }
  }

  /** Open sockets. */
  get openSockets(): number {
    return this.#open.size;
  }

  /** Upgrades `req` (an upgrade request) and starts serving `target` once the socket opens. */
  accept(req: Request, target: WsTarget): Response {
    const { token, protocol } = wsToken(req);
    const { socket, response } = upgradeSocket(req, { protocol, idleTimeoutS: this.#idleTimeoutS });
    const route = target.route;
    const session = new SocketSession(socket, {
      ...this.#sessionOptions,
      onDrop: (n) => this.#dropped?.inc({ route }, n),
    });
    this.#open.set(session, route);
    // Counted when this side closes: a client that stopped reading never completes the close.
    session.onClose(() => {
      if (session.closeCode !== undefined) this.#closes?.inc({ code: String(session.closeCode) });
    });
    session.done.then(() => this.#open.delete(session));
    socket.onopen = () => {
      const serving = this.#serve(session, token, target).catch((err) => {
        // A socket closed meanwhile (the client left, or shutdown) can fail its replay harmlessly.
        if (session.closed) {
          this.#deps.log.debug("WebSocket closed while starting", { err, route });
          return;
        }
        this.#deps.log.error("cannot serve WebSocket", { err, route });
        session.close(CloseCode.internalError, "Internal error");
      });
      this.#starting.add(serving);
      serving.finally(() => this.#starting.delete(serving));
    };
    socket.onmessage = (e) => session.receive(e.data);
    socket.onclose = () => session.handleClosed();
    // An error is followed by a close event, which ends the session.
    socket.onerror = () => {};
    return response;
  }

  /**
   * Closes every socket with `code` (1001: shutting down) and waits, within `closeTimeoutMs`, for
   * them to finish closing. Sockets that open afterwards are closed at once.
   */
  async closeAll(
    code: number = CloseCode.goingAway,
    reason = "Server shutting down",
  ): Promise<void> {
    this.#shuttingDown = true;
    const sessions = [...this.#open.keys()];
    for (const s of sessions) s.close(code, reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Also the sockets still starting: their replay must end before the connections close.
    await Promise.race([
      Promise.all([...sessions.map((s) => s.done), ...this.#starting]),
      new Promise((r) => (timer = setTimeout(r, this.#closeTimeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Closes every socket (1001) and the hub. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.closeAll();
      await this.hub.close();
    })();
    return this.#closing;
  }

  async #serve(session: SocketSession, token: string | undefined, target: WsTarget): Promise<void> {
    if (this.#shuttingDown) {
      session.close(CloseCode.goingAway, "Server shutting down");
      return;
    }
    const user = token ? await this.#tokens.authenticate(token) : undefined;
    if (session.closed) return;
    if (!user) {
      session.close(CloseCode.unauthorized, token ? "Invalid or expired token" : "Missing token");
      return;
    }
    if (target.route === "operations") {
      await new UserOperationsWatch(session, this.#watchDeps, user.id, {
        rowCheckMs: this.#rowCheckMs,
        eventGraceMs: this.#graceMs,
      }).start();
      return;
    }
    let since = 0;
    if (target.since !== undefined) {
      const parsed = sinceParam.safeParse(target.since);
      if (!parsed.success) {
        session.close(CloseCode.policyViolation, "since must be a non-negative integer");
        return;
      }
      since = parsed.data;
    }
    // Through the process' SnapshotReader, as the watch's own reads: sockets opening together
    // share one statement.
    const row = isUuid(target.operationId)
      ? (await this.#watchDeps.snapshots.read([target.operationId]))[0]?.row
      : undefined;
    if (session.closed) return;
    if (!row) {
      session.close(CloseCode.notFound, "No such operation");
      return;
    }
    if (row.owner_id !== user.id) {
      session.close(CloseCode.forbidden, "Not your operation");
      return;
    }
    await new OperationWatch(session, this.#watchDeps, row, since, {
      terminalGraceMs: this.#graceMs,
      rowCheckMs: this.#rowCheckMs,
    }).start();
  }
}
