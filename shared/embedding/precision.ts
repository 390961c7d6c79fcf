/**
 * Numeric precisions of a model's ONNX graph. A model directory may hold one graph per
 * precision (`embedding.json` `onnx_files`); vectors made at different precisions are close but
 * not equal, so a collection keeps the precision its vectors were made with and its queries are
 * embedded at that same precision.
 */
import type { ExecutionProvider } from "./inference_runner.ts";

export const PRECISIONS = ["fp32", "fp16", "int8"] as const;
export type Precision = (typeof PRECISIONS)[number];
/** `EMBEDDING_PRECISION`: a precision, or `auto` (int8 on a CPU, fp16 on a GPU). */
export type PrecisionSetting = "auto" | Precision;

export function isPrecision(value: unknown): value is Precision {
  return typeof value === "string" && (PRECISIONS as readonly string[]).includes(value);
}

/**
 * The precision to load for `setting` on `provider`, among those a model directory holds:
 * `auto` is int8 on the CPU (integer GEMM kernels, about twice fp32's speed) and fp16 on CUDA or
 * WebGPU (tensor cores); a precision the model lacks falls back to fp32, then to whatever it has.
 */
export function choosePrecision(
  setting: PrecisionSetting,
  { provider, available }: { provider: ExecutionProvider; available: readonly Precision[] },
): Precision {
  const wanted: Precision = setting !== "auto" ? setting : provider === "cpu" ? "int8" : "fp16";
  if (available.includes(wanted)) return wanted;
  if (available.includes("fp32")) return "fp32";
  const first = available[0];
  if (first === undefined) throw new RangeError("Cannot choose a precision: the model has none");
  return first;
}
