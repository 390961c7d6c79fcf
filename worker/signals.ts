/**
 * SIGTERM/SIGINT handling of a worker process: the first signal closes gracefully and exits 0
 * when done; a second one forces the close (running handlers are aborted at once).
 */
import type { Logger } from "@semantik/shared";

/** Options of {@link exitOnSignals}. */
export interface ExitOnSignalsOptions {
  /** Closes the process's work; `force` on a second signal. */
  close: (force: boolean) => Promise<void>;
  /** Reports the signals. */
  log: Logger;
  /** @default {["SIGTERM", "SIGINT"]} */
  signals?: Deno.Signal[];
  /** @default {Deno.exit} */
  exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them. */
export function exitOnSignals(options: ExitOnSignalsOptions): () => void {
  const { close, log, signals = ["SIGTERM", "SIGINT"], exit = Deno.exit } = options;
  let stopping = false;
  const handlers = signals.map((signal) => {
    const handler = () => {
      if (stopping) {
        log.warn(`${signal} received again; aborting running jobs`);
        void close(true);
        return;
      }
      stopping = true;
      log.info(`${signal} received; shutting down`);
      close(false).then(
        () => exit(0),
        (err) => {
          log.error("shutdown failed", { err });
          exit(1);
        },
      );
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
}
