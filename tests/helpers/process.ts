/**
 * Helpers for tests that run the project's processes for real: spawn with piped output, wait for
 * a line, stop with a signal, always clean up.
 */

import { PROCESS_START_MS } from "../../shared/testing/wait.ts";

export interface Proc {
  child: Deno.ChildProcess;
  /** Every output line so far (stdout and stderr interleaved). */
  lines: string[];
  /**
   * Resolves with the first line matching `re` (already seen or future); gives up after
   * `timeoutMs` ({@link PROCESS_START_MS}: these lines are a process saying it started).
   */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  status: Promise<Deno.CommandStatus>;
}

/** Spawns `deno run -A <script>` with `env` added to the current environment. */
export function spawnDeno(
  script: string,
  options: { env?: Record<string, string>; args?: string[]; cwd?: string } = {},
): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...(options.args ?? [])],
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return wrap(child);
}

export function wrap(child: Deno.ChildProcess): Proc {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          const m = line.match(w.re);
          if (m) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps;
    return s;
  });
  return {
    child,
    lines,
    status,
    waitForLine(re, timeoutMs = PROCESS_START_MS) {
      for (const l of lines) {
        const m = l.match(re);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (m: RegExpMatchArray) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(
              `Gave up waiting for a line matching ${re} after ${timeoutMs} ms; ` +
                `last saw (the output so far):\n${lines.join("\n")}`,
            ),
          );
        }, timeoutMs);
        waiters.push(w);
        status.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            reject(
              new Error(`Process exited before a line matched ${re}; output:\n${lines.join("\n")}`),
            );
          }
        });
      });
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      return await status;
    },
  };
}
