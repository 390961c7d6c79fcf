/**
 * The hub: one reader of the global event streams per API process, fanning events out in memory
 * to the sockets that watch an operation or a user. The process holds the same Redis
 * connections whatever the number of sockets: its blocking readers, plus the runtime's command
 * connection for the heartbeat and group management.
 *
 * Events are sharded over `EVENT_PARTITIONS` global streams `{ops:<p>}:events`
 * (shared/events/event_keys.ts); the hub reads all of them. On one Redis node one blocking
 * connection reads every partition with a single `XREADGROUP ... STREAMS s0 s1 ...`. On a Redis
 * Cluster a command may only name keys of one slot (`CROSSSLOT`, even when two slots sit on the
 * same master), and each partition is a slot of its own, so the hub opens one blocking connection
 * per partition; those reads spread over the masters that hold the partitions.
 *
 * On every partition stream the hub's reader uses a consumer group of its own (`XREADGROUP ...
 * NOACK`, so nothing piles up in a pending list), created on start after the stream's last entry,
 * whose id the hub remembers: every hub sees every event from its start on. When Redis answers `NOGROUP`
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
import { Command, type Redis } from "ioredis";
import {
  backoffDelay,
  decodeEventEntry,
  type EventKeys,
  hostName,
  hubGroupName,
  hubIdOfGroup,
  isCluster,
  isNoGroup,
  loadLua,
  type Logger,
  type OperationEvent,
  RedisScript,
  resolveBackoff,
  sleep,
  withTimeout,
} from "@semantik/shared";
import { eventFrame, type OutFrame } from "./frame_queue.ts";

/** Seconds a hub's heartbeat key lives without a refresh. */
export const HUB_HEARTBEAT_TTL_S = 60;
/** How often a hub refreshes its heartbeat key, in ms. */
export const HUB_HEARTBEAT_INTERVAL_MS = 15_000;
/** The one consumer of a hub's group. */
const CONSUMER = "reader";
/** A failed read waits 100 ms, doubling to 2 s, before the next. */
const READ_RETRY_BACKOFF = resolveBackoff({ delayMs: 100, maxDelayMs: 2000, jitter: 0 });
const CREATE_GROUP = new RedisScript(
  await loadLua(new URL("./lua/create_hub_group.lua", import.meta.url)),
);

export { hubGroupName, hubIdOfGroup };

/**
 * One event as the hub hands it out: decoded, and serialised once for every socket. Listeners
 * share it: every socket watching the operation sends the same `out` (the same string), so the
 * per-socket work of an event is the send itself.
 */
export interface HubEvent {
  readonly event: OperationEvent;
  /** The frame's JSON text. */
  readonly frame: string;
  /** The frame as a socket session takes it (text, operation, type, status). */
  readonly out: OutFrame;
  readonly ownerId: string;
}

export type HubListener = (event: HubEvent) => void;

/** Called when the hub missed events: listeners resync what they follow. */
export type LagListener = () => void;

/** What the hub needs of the process. */
export interface OperationHubDeps {
  /** Command connection: heartbeat and group management. */
  redis: Redis;
  /**
   * Opens one of the hub's own blocking connections (once on one node, once per partition on a
   * cluster).
   */
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

/** What the hub knows of one partition's global stream. */
interface PartitionState {
  readonly p: number;
  readonly stream: string;
  readonly count: string;
  /**
   * Entry id of the last entry read, or where the group was first created: where a recreated
   * group resumes.
   */
  lastId: string | undefined;
  /** Position (`g`) of the last entry read in the count of entries ever added. */
  lastG: number | undefined;
}

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
  readonly #parts: PartitionState[];
  readonly #byStream: Map<string, PartitionState>;
  readonly #readers: Redis[] = [];
  #starting: Promise<void> | undefined;
  readonly #loops: Promise<void>[] = [];
  #beat: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
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
    const { keys } = deps;
    this.#parts = Array.from({ length: keys.partitions }, (_, p) => ({
      p,
      stream: keys.global(p),
      count: keys.globalCount(p),
      lastId: undefined,
      lastG: undefined,
    }));
    this.#byStream = new Map(this.#parts.map((s) => [s.stream, s]));
  }

  /** Blocking connections the hub reads with (0 before it starts). */
  get readerCount(): number {
    return this.#readers.length;
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
      await this.#deps.keys.checkPartitions(this.#deps.redis);
      await this.#heartbeat();
      for (const part of this.#parts) await this.#createGroup(part);
      if (this.#closing) return;
      // One read for every partition on one node; one per partition (slot) on a cluster.
      const batches = isCluster(this.#deps.redis) ? this.#parts.map((s) => [s]) : [this.#parts];
      this.#beat = setInterval(() => {
        this.#heartbeat().catch((err) => this.#deps.log.warn("hub heartbeat failed", { err }));
      }, this.#beatMs);
      for (const parts of batches) {
        const reader = this.#deps.openReader();
        this.#readers.push(reader);
        this.#loops.push(this.#run(reader, parts));
      }
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
      for (const reader of this.#readers) reader.disconnect();
      await Promise.all(this.#loops);
      if (!started) return;
      // Best effort, bounded: with Redis down, cleanup removes the groups once the key expires.
      const { redis, keys } = this.#deps;
      await withTimeout(
        Promise.all([
          ...this.#parts.map((s) => redis.xgroup("DESTROY", s.stream, this.group)),
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
      hostname: hostName(),
      at: new Date().toISOString(),
    });
    await redis.set(keys.hubHeartbeat(this.hubId), info, "EX", this.#ttlS);
  }

  /**
   * Creates the group: after the stream's last entry on start, at the last entry read when
   * recreating it (at the stream's beginning when the stream was flushed meanwhile). Returns
   * whether entries the hub had not read may have been lost (a flush).
   */
  async #createGroup(part: PartitionState): Promise<boolean> {
    const { redis } = this.#deps;
    const [from, count, flushed] = await CREATE_GROUP.call(redis, [part.stream, part.count], [
      this.group,
      part.lastId ?? "$",
      part.lastG === undefined ? "" : String(part.lastG),
    ]) as [string, number, number];
    if (part.lastId === undefined || flushed === 1) {
      part.lastId = from;
      // After a flush the group starts at the stream's beginning: every entry there is unread,
      // and their positions count from 1 again.
      part.lastG = flushed === 1 ? 0 : Number(count);
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
  async #checkQuietLag(part: PartitionState): Promise<void> {
    if (part.lastG === undefined) return;
    const { redis } = this.#deps;
    // The first entry before the count: an entry added in between raises the count but not the
    // first entry's position, so it cannot look like a loss.
    const first = await redis.xrange(part.stream, "-", "+", "COUNT", 1) as [string, Fields][];
    const count = Number(await redis.get(part.count) ?? 0);
    const seen = part.lastG;
    if (count <= seen) return;
    const firstG = first[0] ? gOf(first[0][1]) : undefined;
    if (firstG !== undefined && firstG <= seen + 1) {
      // The next entry is still there, yet a blocking read found nothing new: the group handed it
      // out in a reply that never reached this loop. Read it by its position instead.
      await this.#catchUp(part);
      return;
    }
    part.lastG = firstG !== undefined ? firstG - 1 : count;
    this.#lagged("entries trimmed before they were read", {
      partition: part.p,
      read_up_to: seen,
      count,
    });
  }

  /**
   * Reads the entries after the last one this hub took straight from the stream (not through the
   * group), up to `before` (exclusive) when given, and takes them: the group may have delivered
   * entries (NOACK: with no pending list) in a reply this loop never got, a connection that
   * dropped after Redis wrote it. Done after a read that failed, after one that found nothing
   * while the stream's count ran ahead, and before an entry that follows a gap. The next group
   * read skips what this took ({@link #take}); what the stream no longer holds stays a gap.
   */
  async #catchUp(part: PartitionState, before?: string): Promise<void> {
    if (part.lastId === undefined) return;
    const { redis } = this.#deps;
    for (;;) {
      const from: string = part.lastId;
      const entries = await redis.xrange(
        part.stream,
        `(${from}`,
        before === undefined ? "+" : `(${before}`,
        "COUNT",
        this.#batch,
      ) as [string, Fields][];
      for (const [id, fields] of entries) this.#take(part, id, fields);
      if (entries.length < this.#batch || part.lastId === from) return;
    }
  }

  /**
   * Hands one entry of `part` out, unless this hub took it already (read twice by a catch-up):
   * entry ids only grow within a stream, and after a flush the group and `lastId` start over.
   */
  #take(part: PartitionState, id: string, fields: Fields): void {
    if (part.lastId !== undefined && !entryIdAfter(id, part.lastId)) return;
    part.lastId = id;
    this.#noteG(part, fields);
    this.#dispatch(fields);
  }

  /** Reads `parts` (their streams lie in one slot, or on one node) until the hub closes. */
  async #run(reader: Redis, parts: PartitionState[]): Promise<void> {
    const { log } = this.#deps;
    const read = streamReader(reader, {
      streams: parts.map((s) => s.stream),
      group: this.group,
      consumer: CONSUMER,
      count: this.#batch,
      blockMs: this.#blockMs,
    });
    let failures = 0;
    while (!this.#closing) {
      try {
        if (failures > 0) {
          // The failed read may have been answered: take what it held from the streams.
          for (const part of parts) await this.#catchUp(part);
        }
        const replies = await read();
        if (failures > 0) log.info("hub reading events again");
        failures = 0;
        let got = 0;
        for (const [stream, entries] of replies) {
          const part = this.#byStream.get(stream);
          if (!part) continue;
          for (const [id, fields] of entries) {
            got++;
            const g = gOf(fields);
            if (g !== undefined && part.lastG !== undefined && g > part.lastG + 1) {
              // Entries before this one never reached the hub: take them first if still there.
              await this.#catchUp(part, id);
            }
            this.#take(part, id, fields);
          }
        }
        if (got === 0 && !this.#closing) {
          for (const part of parts) await this.#checkQuietLag(part);
        }
      } catch (readErr) {
        if (this.#closing) break;
        let err = readErr;
        const message = String((readErr as Error).message);
        // Redis 7 ends a blocked read when its stream is deleted (FLUSHALL): read again, which
        // answers NOGROUP, handled below.
        if (message.startsWith("UNBLOCKED")) continue;
        if (isNoGroup(readErr)) {
          // The stream or the group is gone (FLUSHALL, or cleanup took this hub for dead).
          try {
            await this.#heartbeat();
            // Every partition of this read: an existing group is kept as it is.
            const flushed: number[] = [];
            for (const part of parts) if (await this.#createGroup(part)) flushed.push(part.p);
            this.#recoveries++;
            log.warn("hub group was missing; created it again", {
              group: this.group,
              partitions: parts.map((s) => s.p),
            });
            // Entries published before the flush that this hub had not read are gone.
            if (flushed.length > 0) {
              this.#lagged("the stream was flushed", { partitions: flushed });
            }
            continue;
          } catch (createErr) {
            err = createErr;
          }
        }
        if (failures === 0) log.warn("hub cannot read events; retrying", { err });
        failures++;
        await sleep(backoffDelay(failures, READ_RETRY_BACKOFF));
      }
    }
  }

  /** Follows the entries' positions; a jump means entries were trimmed before they were read. */
  #noteG(part: PartitionState, fields: Fields): void {
    const g = gOf(fields);
    if (g === undefined) return;
    const seen = part.lastG;
    part.lastG = g;
    if (seen !== undefined && g !== seen + 1) {
      // Dispatching this entry first is fine: the watches dedupe by event id when they resync.
      queueMicrotask(() =>
        this.#lagged("a gap in the stream", { partition: part.p, read_up_to: seen, next: g })
      );
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
    const out = eventFrame(event);
    const hubEvent: HubEvent = { event, frame: out.text, out, ownerId: owner };
    this.#delivered++;
    // The sets themselves, not copies (an event reaches hundreds of listeners, several times a
    // second): a listener that unsubscribes while the event is handed out (its socket closed) is
    // removed from the set, which a live iteration steps over; the others still get it.
    if (forOp) { for (const listener of forOp) this.#hand(listener, hubEvent); }
    if (forOwner) { for (const listener of forOwner) this.#hand(listener, hubEvent); }
  }

  #hand(listener: HubListener, event: HubEvent): void {
    try {
      listener(event);
    } catch (err) {
      this.#deps.log.error("hub listener failed", { err, operation_id: event.event.operation_id });
    }
  }
}

/** Whether stream entry id `a` (`<ms>-<seq>`) comes after `b`. */
export function entryIdAfter(a: string, b: string): boolean {
  const [am, as = "0"] = a.split("-");
  const [bm, bs = "0"] = b.split("-");
  const ms = Number(am) - Number(bm);
  return ms !== 0 ? ms > 0 : Number(as) > Number(bs);
}

/**
 * `XREADGROUP ... NOACK STREAMS <streams> > ...`: a function that reads new entries of several
 * streams for the hub's consumer, giving the replies of the streams that had entries.
 *
 * The command never changes, and at a few events a second the hub sends it once per event: its
 * arguments are built once, and so are the bytes ioredis writes for it (encoded by ioredis itself,
 * then handed back by `toWritable`, as ioredis's own `Script` does for `EVALSHA`), which spares
 * each read the encoding of every stream key. The command keeps its name, so ioredis turns the
 * reply into `[[stream, entries]]` on any protocol as for its typed `xreadgroup`.
 */
function streamReader(
  redis: Redis,
  options: { streams: string[]; group: string; consumer: string; count: number; blockMs: number },
): () => Promise<[string, [string, Fields][]][]> {
  const { streams, group, consumer, count, blockMs } = options;
  const args: (string | number)[] = [
    "GROUP",
    group,
    consumer,
    "COUNT",
    count,
    "BLOCK",
    blockMs,
    "NOACK",
    "STREAMS",
    ...streams,
    ...streams.map(() => ">"),
  ];
  const commandOptions = { replyEncoding: "utf8" as const, keyPrefix: redis.options.keyPrefix };
  const bytes = new Command("xreadgroup", args, commandOptions).toWritable({});
  class PreparedRead extends Command {
    override toWritable(): string | Buffer {
      return bytes;
    }
  }
  return async () => {
    const reply = await redis.sendCommand(new PreparedRead("xreadgroup", args, commandOptions));
    return (reply as [string, [string, Fields][]][] | null) ?? [];
  };
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
