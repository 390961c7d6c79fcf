/**
 * A session with the V8 inspector of another Deno process started with `--inspect=<host:port>`
 * (bench/_cpu_profile.ts, bench/_heap_snapshot.ts): protocol calls, and the events it sends.
 */
export interface InspectorSession {
  /** Sends `method` and resolves with its result; rejects with the inspector's error. */
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  /** Calls `listener` with the params of every event named `method`. */
  on(method: string, listener: (params: Record<string, unknown>) => void): void;
  close(): void;
}

/** Connects to the inspector at `inspect` (host:port). */
export async function connectInspector(inspect: string): Promise<InspectorSession> {
  const [target] = await (await fetch(`http://${inspect}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot reach the inspector at ${inspect}`));
  });
  let next = 1;
  const pending = new Map<
    number,
    { method: string; resolve: (r: unknown) => void; reject: (e: Error) => void }
  >();
  const listeners = new Map<string, (params: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    if (msg.id === undefined) {
      listeners.get(msg.method)?.(msg.params);
      return;
    }
    const call = pending.get(msg.id);
    pending.delete(msg.id);
    if (!call) return;
    if (msg.error) {
      call.reject(
        new Error(
          `inspector ${call.method} failed: ${msg.error.message ?? JSON.stringify(msg.error)}`,
        ),
      );
    } else {
      call.resolve(msg.result);
    }
  };
  return {
    call: (method, params = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const id = next++;
        pending.set(id, { method, resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    on: (method, listener) => void listeners.set(method, listener),
    close: () => ws.close(),
  };
}

/** A call frame of a V8 profile. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** A profile's name for a function: its name, file (last two path parts) and line. */
export function frameName(f: CallFrame): string {
  const where = f.url ? `${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
}
