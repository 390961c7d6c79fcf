import assert from "node:assert/strict";
import { isOutOfMemoryError } from "./out_of_memory.ts";

Deno.test("isOutOfMemoryError() recognises the providers' out-of-memory messages", () => {
  for (
    const message of [
      "CUDA failure 2: out of memory ; GPU=0 ; hostname=x ; expr=cudaMalloc((void**)&p, size);",
      "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MatMul node. Name:'x' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 1073741824",
      "CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED",
      "std::bad_alloc",
      "WebGPU: Out of device memory",
    ]
  ) assert.equal(isOutOfMemoryError(new Error(message)), true, message);
});

Deno.test("isOutOfMemoryError() leaves other failures alone", () => {
  assert.equal(isOutOfMemoryError(new Error("Invalid input name: foo")), false);
  assert.equal(isOutOfMemoryError(undefined), false);
  assert.equal(isOutOfMemoryError({ message: "out of memory" }), false);
});
