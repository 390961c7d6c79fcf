/**
 * A Lua script called by its SHA1 (`EVALSHA`), with the source sent instead (`EVAL`) the first
 * time a connection runs it and whenever the server answers `NOSCRIPT` (a restart, a failover,
 * `SCRIPT FLUSH`, another node of a cluster).
 *
 * Why not ioredis' `defineCommand`: a command it defines is added to the connection, and the
 * connection's auto-pipeline copies the defined commands when it is created. A script defined
 * while a pipeline is pending (a command sent earlier in the same tick), then called in that
 * tick, rejects with "pipeline[functionName] is not a function" and leaves its callback behind:
 * when the pipeline's replies come, ioredis 6.0 reads one reply too many and throws "results[i]
 * is not iterable" where nothing can catch it, and the process dies. Here a script is two plain
 * commands, which every connection (auto-pipelined, cluster, pipeline) sends as it sends any
 * other.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** A key or an argument of a script call. */
export type ScriptArg = string | number;

/** Whether `e` is Redis' answer to `EVALSHA` of a script it does not hold. */
export function isNoScript(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith("NOSCRIPT");
}

export class RedisScript {
  readonly lua: string;
  readonly sha: string;
  // Connections that were sent the source once: they answer EVALSHA unless their server lost
  // the script since (then NOSCRIPT, and the source is sent again).
  readonly #sent = new WeakSet<object>();

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Runs the script on `redis` with `keys` (KEYS) and `args` (ARGV). */
  call(redis: Redis, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
    if (!this.#sent.has(redis)) {
      this.#sent.add(redis);
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
    return redis.evalsha(this.sha, keys.length, ...keys, ...args).catch((e: unknown) => {
      if (!isNoScript(e)) throw e;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    });
  }
}
