/**
 * Worker-thread entry of {@link WorkerInferenceRunner}: holds one ONNX session and runs it on
 * request, so the blocking inference call never stalls the main thread's event loop (lease
 * heartbeats, WebSockets and HTTP keep going while a batch runs).
 *
 * Messages in:  {id, type: "open", modelPath, options} | {id, type: "run", feeds, output} |
 *               {id, type: "close"}
 * Messages out: {id, ok: true, result} | {id, ok: false, error: {name, message}}
 */
/// <reference lib="deno.worker" />
import { InlineInferenceRunner } from "./inference_runner.ts";
import type { WorkerRequest, WorkerResponse } from "./worker_inference_runner.ts";

let runner: InlineInferenceRunner | undefined;

function reply(message: WorkerResponse, transfer: Transferable[] = []) {
  self.postMessage(message, transfer);
}

async function handle(request: WorkerRequest): Promise<void> {
  try {
    switch (request.type) {
      case "open": {
        runner = await InlineInferenceRunner.open(request.modelPath, request.options);
        reply({
          id: request.id,
          ok: true,
          result: { inputNames: [...runner.inputNames], outputNames: [...runner.outputNames] },
        });
        return;
      }
      case "run": {
        if (!runner) throw new Error("Cannot run model: no session is open in this worker");
        const out = await runner.run(request.feeds, request.output);
        reply({ id: request.id, ok: true, result: out }, [out.data.buffer as ArrayBuffer]);
        return;
      }
      case "close": {
        await runner?.close();
        runner = undefined;
        reply({ id: request.id, ok: true, result: null });
        return;
      }
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply({ id: request.id, ok: false, error: { name: e.name, message: e.message } });
  }
}

// Runs are taken one at a time: the session call blocks this thread anyway, and ordering keeps
// a close from overtaking a run.
let queue = Promise.resolve();
self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  queue = queue.then(() => handle(event.data));
};
