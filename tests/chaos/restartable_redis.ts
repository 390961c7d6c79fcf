/**
 * A private `redis-server` that a chaos scenario can crash and start again on the same port,
 * without persistence: after a restart every key is gone (jobs, leases, event streams, dedup
 * keys, consumer groups), as when a cache-configured Redis restarts in production. Never the
 * machine's own Redis: other tests use it.
 */
import { freePort } from "../../shared/redis/private_server.ts";
import { pingRedis } from "../../shared/redis/redis.ts";
import { waitFor } from "../../shared/testing/wait.ts";

/** Options of {@link RestartableRedis.restart}. */
export interface RedisRestartOptions {
  /** How long the server stays down before it starts again, in ms. @default {0} */
  downMs?: number;
}

export class RestartableRedis {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  #child: Deno.ChildProcess | undefined;
  #stopped = false;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
  }

  /** Starts a server on a free port and resolves once it answers. */
  static async start(): Promise<RestartableRedis> {
    const dir = await Deno.makeTempDir({ prefix: "semantik-chaos-redis-" });
    const r = new RestartableRedis(await freePort(), dir);
    try {
      await r.#start();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  async #start(): Promise<void> {
    this.#child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.#dir,
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const child = this.#child;
    let exited = false;
    child.status.then(() => (exited = true));
    await waitFor(`redis-server on port ${this.port} to answer`, async () => {
      if (exited) throw new Error(`redis-server exited before answering on port ${this.port}`);
      return await pingRedis(this.url, 200);
    }, { timeoutMs: 30_000, intervalMs: 50 });
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }

  /** Kills the server (SIGKILL: no goodbye to clients) and starts an empty one on the same port. */
  async restart({ downMs = 0 }: RedisRestartOptions = {}): Promise<void> {
    if (this.#stopped) throw new Error("Cannot restart the private Redis: it was stopped");
    await this.#kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.#start();
  }

  /** Stops the server for good and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#kill();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
