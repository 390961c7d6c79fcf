/**
 * The hub: one reader of the global event stream per API process, fanning events out in memory
 * to the sockets that watch an operation or a user. The process holds the same Redis
 * connections whatever the number of sockets: this blocking reader, plus the runtime's command
 * connection for the heartbeat and group management.
 *
 * The reader uses a consumer group of its own on `{ops}:events` (`XREADGROUP ... NOACK`, so
 * nothing piles up in a pending list), created on start after the stream's last entry, whose id
 * the hub remembers: every hub sees every event from its start on. When Redis answers `NOGROUP`
 * (a flush, or cleanup removed the group), the group is created again at the last entry this hub
 * read (at the id where it was first created when it read nothing yet), or at the stream's
 * beginning when the stream was flushed, so nothing published since is missed.
 *
 * Lag: `XREADGROUP >` silently skips entries that the global stream's cap trimmed before the hub
 * read them. Every global entry carries its position `g` in the count of entries ever added, so
 * the hub notices a jump in `g`, and on a quiet stream, a count ahead of what it read whose next
 * entry is gone. It then tells its lag listeners (the watches), which resync from the operations'
 * own streams and rows.
 *
 * Naming, for cleanup (maintenance.cleanup_operations): the group of hub `<hubId>` is
 * `hub:<hubId>` ({@link hubGroupName}); its liveness key is `EventKeys.hubHeartbeat(hubId)`
 * (`<prefix>{ops}:hub:<hubId>`), refreshed every {@link HUB_HEARTBEAT_INTERVAL_MS} with a TTL of
 * {@link HUB_HEARTBEAT_TTL_S}. A group named `hub:<id>` whose heartbeat key is missing belongs to
 * a process that is gone and may be destroyed; a live hub whose group was destroyed by mistake
 * recreates it.
 */
import type { Redis } from "ioredis";
import {
  decodeEventEntry,
  type EventKeys,
  hubGroupName,
  hubIdOfGroup,
  type Logger,
  type OperationEvent,
} from "@semantik/shared";

/** Seconds a hub's heartbeat key lives without a refresh. */
export const HUB_HEARTBEAT_TTL_S = 60;
/** How often a hub refreshes its heartbeat key, in ms. */
export const HUB_HEARTBEAT_INTERVAL_MS = 15_000;
/** The one consumer of a hub's group. */
const CONSUMER = "reader";
const CREATE_GROUP_LUA = await Deno.readTextFile(
  new URL("./lua/create_hub_group.lua", import.meta.url),
);

export { hubGroupName, hubIdOfGroup };

/** One event as the hub hands it out: decoded, and serialised once for every socket. */
export interface HubEvent {
  readonly event: OperationEvent;
  /** The frame's JSON text. */
  readonly frame: string;
  readonly ownerId: string;
}

export type HubListener = (event: HubEvent) => void;

/** Called when the hub missed events: listeners resync what they follow. */
export type LagListener = () => void;

/** What the hub needs of the process. */
export interface OperationHubDeps {
  /** Command connection: heartbeat and group management. */
  redis: Redis;
  /** Opens the hub's own blocking connection (called once). */
  openReader: () => Redis;
  keys: EventKeys;
  log: Logger;
}

/** Options of {@link OperationHub}. */
export interface OperationHubOptions {
  /** The hub's id (names its group and heartbeat key). @default {a random UUID} */
  hubId?: string;
  /** Longest wait of one XREADGROUP, in ms; bounds how long recovery takes. @default {2000} */
  blockMs?: number;
  /** Entries read per XREADGROUP. @default {1000} */
  batchSize?: number;
  /** Heartbeat TTL in seconds. @default {HUB_HEARTBEAT_TTL_S} */
  heartbeatTtlS?: number;
  /** Heartbeat refresh interval in ms (well under the TTL). @default {HUB_HEARTBEAT_INTERVAL_MS} */
  heartbeatIntervalMs?: number;
}

type Fields = string[];
type ReadReply = [string, [string, Fields][]][] | null;

export class OperationHub {
  readonly hubId: string;
  readonly group: string;
  readonly #deps: OperationHubDeps;
  readonly #blockMs: number;
  readonly #batch: number;
  readonly #ttlS: number;
  readonly #beatMs: number;
  readonly #byOperation = new Map<string, Set<HubListener>>();
  readonly #byOwner = new Map<string, Set<HubListener>>();
  readonly #lagListeners = new Set<LagListener>();
  #reader: Redis | undefined;
  #starting: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #beat: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  /**
   * Entry id of the last global-stream entry read, or where the group was first created: where a
   * recreated group resumes.
   */
  #lastId: string | undefined;
  /** Position (`g`) of the last entry read in the count of entries ever added. */
  #lastG: number | undefined;
  #delivered = 0;
  #recoveries = 0;
  #lags = 0;

  constructor(deps: OperationHubDeps, options: OperationHubOptions = {}) {
    const {
      hubId = crypto.randomUUID(),
      blockMs = 2000,
      batchSize = 1000,
      heartbeatTtlS = HUB_HEARTBEAT_TTL_S,
      heartbeatIntervalMs = HUB_HEARTBEAT_INTERVAL_MS,
    } = options;
    for (
      const [k, v] of Object.entries({ blockMs, batchSize, heartbeatTtlS, heartbeatIntervalMs })
    ) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create operation hub: ${k} must be a positive integer, got ${v}`,
        );
      }
    }
    if (heartbeatIntervalMs >= heartbeatTtlS * 1000) {
      throw new RangeError(
        `Cannot create operation hub: heartbeatIntervalMs must be under the TTL, got ${heartbeatIntervalMs}`,
      );
    }
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(hubId)) {
      throw new RangeError(
        `Cannot create operation hub: invalid hub id, got ${JSON.stringify(hubId)}`,
      );
    }
    this.#deps = deps;
    this.hubId = hubId;
    this.group = hubGroupName(hubId);
    this.#blockMs = blockMs;
    this.#batch = batchSize;
    this.#ttlS = heartbeatTtlS;
    this.#beatMs = heartbeatIntervalMs;
  }

  /** Listeners registered now. */
  get listenerCount(): number {
    let n = 0;
    for (const s of this.#byOperation.values()) n += s.size;
    for (const s of this.#byOwner.values()) n += s.size;
    return n;
  }

  /** Events handed to at least one listener since start. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Times the group had to be created again (`NOGROUP`). */
  get recoveries(): number {
    return this.#recoveries;
  }

  /** Times the hub found it had missed events and told its lag listeners. */
  get lags(): number {
    return this.#lags;
  }

  /** Calls `listener` whenever the hub missed events. Returns the function that removes it. */
  onLag(listener: LagListener): () => void {
    this.#lagListeners.add(listener);
    return () => this.#lagListeners.delete(listener);
  }

  /**
   * Creates the group and starts reading. Idempotent; subscribing starts the hub, so a process
   * that never serves a WebSocket never reads the stream.
   */
  start(): Promise<void> {
    if (this.#closing) return Promise.reject(new Error("Cannot start operation hub: it is closed"));
    this.#starting ??= (async () => {
      await this.#heartbeat();
      await this.#createGroup();
      if (this.#closing) return;
      this.#reader = this.#deps.openReader();
      this.#beat = setInterval(() => {
        this.#heartbeat().catch((err) => this.#deps.log.warn("hub heartbeat failed", { err }));
      }, this.#beatMs);
      this.#loop = this.#run();
    })();
    // A failed start (Redis down) may be tried again by the next subscriber.
    this.#starting.catch(() => (this.#starting = undefined));
    return this.#starting;
  }

  /**
   * Calls `listener` with every event of operation `operationId` read from now on. Resolves once
   * the hub reads the stream, so anything published after that reaches the listener. Returns the
   * unsubscribe function.
   */
  subscribeOperation(operationId: string, listener: HubListener): Promise<() => void> {
    return this.#subscribe(this.#byOperation, operationId, listener);
  }

  /** Like {@link subscribeOperation}, for every operation of user `ownerId`. */
  subscribeOwner(ownerId: string, listener: HubListener): Promise<() => void> {
    return this.#subscribe(this.#byOwner, ownerId, listener);
  }

  /** Stops reading, removes the group and the heartbeat key. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#byOperation.clear();
      this.#byOwner.clear();
      this.#lagListeners.clear();
      const started = this.#starting ? await this.#starting.then(() => true, () => false) : false;
      if (this.#beat !== undefined) clearInterval(this.#beat);
      this.#reader?.disconnect();
      await this.#loop;
      if (!started) return;
      // Best effort, bounded: with Redis down, cleanup removes the group once the key expires.
      const { redis, keys } = this.#deps;
      await withTimeout(
        Promise.all([
          redis.xgroup("DESTROY", keys.global, this.group),
          redis.del(keys.hubHeartbeat(this.hubId)),
        ]),
        2000,
      ).catch((err) => this.#deps.log.debug("cannot remove hub group", { err }));
    })();
    return this.#closing;
  }

  async #subscribe(
    map: Map<string, Set<HubListener>>,
    key: string,
    listener: HubListener,
  ): Promise<() => void> {
    let set = map.get(key);
    if (!set) map.set(key, set = new Set());
    set.add(listener);
    const unsubscribe = () => {
      const s = map.get(key);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) map.delete(key);
    };
    try {
      await this.start();
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  async #heartbeat(): Promise<void> {
    const { redis, keys } = this.#deps;
    const info = JSON.stringify({
      pid: Deno.pid,
      hostname: hostname(),
      at: new Date().toISOString(),
    });
    await redis.set(keys.hubHeartbeat(this.hubId), info, "EX", this.#ttlS);
  }

  /**
   * Creates the group: after the stream's last entry on start, at the last entry read when
   * recreating it (at the stream's beginning when the stream was flushed meanwhile). Returns
   * whether entries the hub had not read may have been lost (a flush).
   */
  async #createGroup(): Promise<boolean> {
    const { redis, keys } = this.#deps;
    // Plain EVAL (it runs on start and recovery only): defined with defineCommand, this script
    // broke the replies of the process's shared auto-pipelined connection (ioredis: "results[i]
    // is not iterable", seen in tests/maintenance_cleanup_test.ts).
    const [from, count, flushed] = await redis.eval(
      CREATE_GROUP_LUA,
      2,
      keys.global,
      keys.globalCount,
      this.group,
      this.#lastId ?? "$",
      this.#lastG === undefined ? "" : String(this.#lastG),
    ) as [string, number, number];
    if (this.#lastId === undefined || flushed === 1) {
      this.#lastId = from;
      this.#lastG = Number(count);
    }
    return flushed === 1;
  }

  /** Tells the lag listeners that events may have been missed. */
  #lagged(why: string, detail: Record<string, unknown>): void {
    this.#lags++;
    this.#deps.log.warn(`hub missed events (${why}); resyncing its watches`, {
      group: this.group,
      ...detail,
    });
    for (const listener of [...this.#lagListeners]) {
      try {
        listener();
      } catch (err) {
        this.#deps.log.error("hub lag listener failed", { err });
      }
    }
  }

  /**
   * After a read that returned nothing: whether the stream's count ran ahead of what the hub read
   * while the entries it needs next are gone (trimmed before it read them).
   */
  async #checkQuietLag(): Promise<void> {
    if (this.#lastG === undefined) return;
    const { redis, keys } = this.#deps;
    // The first entry before the count: an entry added in between raises the count but not the
    // first entry's position, so it cannot look like a loss.
    const first = await redis.xrange(keys.global, "-", "+", "COUNT", 1) as [string, Fields][];
    const count = Number(await redis.get(keys.globalCount) ?? 0);
    const seen = this.#lastG;
    if (count <= seen) return;
    const firstG = first[0] ? gOf(first[0][1]) : undefined;
    if (firstG !== undefined && firstG <= seen + 1) return; // the next entry is still there
    this.#lastG = firstG !== undefined ? firstG - 1 : count;
    this.#lagged("entries trimmed before they were read", { read_up_to: seen, count });
  }

  async #run(): Promise<void> {
    const { keys, log } = this.#deps;
    const reader = this.#reader!;
    let failures = 0;
    while (!this.#closing) {
      try {
        // The typed command, not `call`: on RESP3 connections it turns the reply's map back into
        // the `[[stream, entries]]` shape.
        const read = reader.xreadgroup as unknown as (
          ...a: (string | number)[]
        ) => Promise<ReadReply>;
        const reply = await read.apply(reader, [
          "GROUP",
          this.group,
          CONSUMER,
          "COUNT",
          this.#batch,
          "BLOCK",
          this.#blockMs,
          "NOACK",
          "STREAMS",
          keys.global,
          ">",
        ]);
        if (failures > 0) log.info("hub reading events again");
        failures = 0;
        let got = 0;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            got++;
            this.#lastId = id;
            this.#noteG(fields);
            this.#dispatch(fields);
          }
        }
        if (got === 0 && !this.#closing) await this.#checkQuietLag();
      } catch (readErr) {
        if (this.#closing) break;
        let err = readErr;
        const message = String((readErr as Error).message);
        // Redis 7 ends a blocked read when its stream is deleted (FLUSHALL): read again, which
        // answers NOGROUP, handled below.
        if (message.startsWith("UNBLOCKED")) continue;
        if (message.includes("NOGROUP")) {
          // The stream or the group is gone (FLUSHALL, or cleanup took this hub for dead).
          try {
            await this.#heartbeat();
            const flushed = await this.#createGroup();
            this.#recoveries++;
            log.warn("hub group was missing; created it again", {
              group: this.group,
              from: this.#lastId,
            });
            // Entries published before the flush that this hub had not read are gone.
            if (flushed) this.#lagged("the stream was flushed", { from: this.#lastId });
            continue;
          } catch (createErr) {
            err = createErr;
          }
        }
        if (failures === 0) log.warn("hub cannot read events; retrying", { err });
        failures++;
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** Follows the entries' positions; a jump means entries were trimmed before they were read. */
  #noteG(fields: Fields): void {
    const g = gOf(fields);
    if (g === undefined) return;
    const seen = this.#lastG;
    this.#lastG = g;
    if (seen !== undefined && g !== seen + 1) {
      // Dispatching this entry first is fine: the watches dedupe by event id when they resync.
      queueMicrotask(() => this.#lagged("a gap in the stream", { read_up_to: seen, next: g }));
    }
  }

  #dispatch(fields: Fields): void {
    let op: string | undefined;
    let owner: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "op") op = fields[i + 1];
      else if (fields[i] === "owner") owner = fields[i + 1];
    }
    if (op === undefined || owner === undefined) return;
    const forOp = this.#byOperation.get(op);
    const forOwner = this.#byOwner.get(owner);
    if (!forOp && !forOwner) return;
    const event = decodeEventEntry(fields);
    if (!event) {
      this.#deps.log.warn("hub skipped an undecodable event", { operation_id: op });
      return;
    }
    const hubEvent: HubEvent = { event, frame: JSON.stringify(event), ownerId: owner };
    this.#delivered++;
    // Copies: a listener may unsubscribe (its socket closed) while the event is handed out.
    for (const listener of [...forOp ?? [], ...forOwner ?? []]) {
      try {
        listener(hubEvent);
      } catch (err) {
        this.#deps.log.error("hub listener failed", { err, operation_id: op });
      }
    }
  }
}

/** The `g` field of a global-stream entry. */
function gOf(fields: Fields): number | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "g") {
      const g = Number(fields[i + 1]);
      return Number.isInteger(g) ? g : undefined;
    }
  }
  return undefined;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
