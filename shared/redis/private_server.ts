/**
 * A private `redis-server` for a development session or a test run when nothing answers at the
 * configured URL: no persistence, loopback only, a free port, stopped with the session.
 */
import { pingRedis } from "./redis.ts";

export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Options of {@link startPrivateRedis}. */
export interface PrivateRedisOptions {
  /** The server binary. @default {"redis-server"} */
  binary?: string;
  /** Working directory of the server. @default {a new temporary directory} */
  dir?: string;
}

/** Whether `binary` can be run (found on PATH). */
export async function hasBinary(binary: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(binary, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return Promise.resolve(port);
}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const { binary = "redis-server" } = options;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "semantik-redis-" });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = new Deno.Command(binary, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const url = `redis://127.0.0.1:${port}`;
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    for (let i = 0; i < 100 && !exited; i++) {
      if (await pingRedis(url, 200)) {
        return {
          url,
          port,
          async stop() {
            if (!exited) {
              try {
                child.kill("SIGTERM");
              } catch { /* already gone */ }
            }
            await status;
            await child.stderr.cancel().catch(() => {});
            if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    await child.stderr.cancel().catch(() => {});
  }
  throw new Error(`Cannot start a private Redis: ${binary} did not answer on any port tried`);
}
