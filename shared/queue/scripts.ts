/**
 * The queue's Lua scripts, one file per atomic change under `./lua/` (KEYS and ARGV documented in
 * each header), with small typed wrappers. Shared helpers live in `./lua/includes/` and are
 * pasted in where a script says `--@include <name>`, as BullMQ does with its includes.
 *
 * `deno compile` needs `--include shared/queue/lua` for these files.
 */
import type { Redis } from "ioredis";
import { loadLua } from "../redis/load_lua.ts";
import { RedisScript, type ScriptArg } from "../redis/redis_script.ts";

const SCRIPT_NAMES = [
  "enqueue",
  "complete_jobs",
  "renew_leases",
  "redeliver_jobs",
  "retry_job",
  "move_to_dead",
  "due_jobs",
  "promote_delayed",
  "release_jobs",
  "remove_job",
  "requeue_dead",
  "job_state",
] as const;
type ScriptName = (typeof SCRIPT_NAMES)[number];

const loadScript = (name: string) => loadLua(new URL(`./lua/${name}.lua`, import.meta.url));

/** Script sources with includes resolved, read once per process. */
export const LUA_SOURCES: Readonly<Record<ScriptName, string>> = Object.fromEntries(
  await Promise.all(SCRIPT_NAMES.map(async (n) => [n, await loadScript(n)] as const)),
) as Record<ScriptName, string>;

type Arg = ScriptArg;

const SCRIPTS = Object.fromEntries(
  SCRIPT_NAMES.map((n) => [n, new RedisScript(LUA_SOURCES[n])] as const),
) as Record<ScriptName, RedisScript>;

/**
 * Typed calls of the queue's scripts on one connection (EVALSHA, the source again after
 * NOSCRIPT: see {@link RedisScript}).
 */
export class QueueScripts {
  readonly redis: Redis;

  constructor(redis: Redis) {
    this.redis = redis;
  }

  #call(name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
    return SCRIPTS[name].call(this.redis, keys, args);
  }

  enqueue(keys: string[], args: Arg[]): Promise<[number, string, string]> {
    return this.#call("enqueue", keys, args) as Promise<[number, string, string]>;
  }
  /** Completions, the entries read for the freed slots (`[id, fields]` each), 1 if more wait. */
  completeJobs(keys: string[], args: Arg[]): Promise<[number[], [string, string[]][], number]> {
    return this.#call("complete_jobs", keys, args) as Promise<
      [number[], [string, string[]][], number]
    >;
  }
  renewLeases(keys: string[], args: Arg[]): Promise<number[]> {
    return this.#call("renew_leases", keys, args) as Promise<number[]>;
  }
  redeliverJobs(keys: string[], args: Arg[]): Promise<number[]> {
    return this.#call("redeliver_jobs", keys, args) as Promise<number[]>;
  }
  retryJob(keys: string[], args: Arg[]): Promise<number> {
    return this.#call("retry_job", keys, args) as Promise<number>;
  }
  moveToDead(keys: string[], args: Arg[]): Promise<string | number> {
    return this.#call("move_to_dead", keys, args) as Promise<string | number>;
  }
  dueJobs(keys: string[], args: Arg[]): Promise<[string[], number]> {
    return this.#call("due_jobs", keys, args) as Promise<[string[], number]>;
  }
  promoteDelayed(keys: string[], args: Arg[]): Promise<number> {
    return this.#call("promote_delayed", keys, args) as Promise<number>;
  }
  releaseJobs(keys: string[], args: Arg[]): Promise<number> {
    return this.#call("release_jobs", keys, args) as Promise<number>;
  }
  removeJob(keys: string[], args: Arg[]): Promise<[number, string]> {
    return this.#call("remove_job", keys, args) as Promise<[number, string]>;
  }
  requeueDead(keys: string[], args: Arg[]): Promise<string | null | [number, number]> {
    return this.#call("requeue_dead", keys, args) as Promise<string | null | [number, number]>;
  }
  jobState(keys: string[], args: Arg[]): Promise<string[] | null> {
    return this.#call("job_state", keys, args) as Promise<string[] | null>;
  }
}
