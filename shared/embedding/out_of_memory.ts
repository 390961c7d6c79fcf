/**
 * Recognises out-of-memory failures of an inference run. ONNX Runtime reports them as plain
 * errors whose text depends on the provider (CUDA, the CPU arena, WebGPU buffers), so the
 * message is all there is to go on.
 */

const PATTERNS = [
  /out of memory/i,
  /CUDA_ERROR_OUT_OF_MEMORY/,
  /cudaErrorMemoryAllocation/,
  /CUBLAS_STATUS_ALLOC_FAILED/,
  /CUDNN_STATUS_ALLOC_FAILED/,
  /Failed to allocate memory/i,
  /bad_alloc/,
  /BFCArena.*(?:Allocation|allocate)/i,
  /Out of device memory/i,
  /OutOfMemory/,
];

export function isOutOfMemoryError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : typeof err === "string" ? err : "";
  return PATTERNS.some((p) => p.test(message));
}
