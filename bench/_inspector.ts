/**
 * A session with the V8 inspector of another Deno process started with `--inspect=<host:port>`
 * (bench/_cpu_profile.ts, bench/_heap_snapshot.ts): protocol calls, and the events it sends.
 */
export interface InspectorSession {
  /** Sends `method` and resolves with its result. */
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
  const pending = new Map<number, (result: unknown) => void>();
  const listeners = new Map<string, (params: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
    else listeners.get(msg.method)?.(msg.params);
  };
  return {
    call: (method, params = {}) =>
      new Promise<unknown>((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    on: (method, listener) => void listeners.set(method, listener),
    close: () => ws.close(),
  };
}
