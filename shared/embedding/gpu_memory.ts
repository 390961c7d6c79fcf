/**
 * Free GPU memory as `nvidia-smi` reports it, read before a model is loaded on a GPU so that a
 * job waits for room instead of failing halfway with an out-of-memory error.
 */

export interface GpuMemory {
  /** nvidia-smi's (physical) index. */
  index: number;
  uuid: string;
  name: string;
  /** Undefined where nvidia-smi says `[N/A]` (MIG slices, some virtual GPUs). */
  totalBytes: number | undefined;
  usedBytes: number | undefined;
  freeBytes: number | undefined;
}

/** The query whose output {@link parseNvidiaSmiMemory} reads (values in MiB). */
export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,uuid,memory.total,memory.used,memory.free,name",
  "--format=csv,noheader,nounits",
];

const MIB = 1024 * 1024;

function mebibytes(field: string): number | undefined {
  const value = Number(field.trim());
  return field.trim() !== "" && Number.isFinite(value) ? value * MIB : undefined;
}

/** Parses `nvidia-smi` {@link NVIDIA_SMI_ARGS} output, one GPU a line. */
export function parseNvidiaSmiMemory(output: string): GpuMemory[] {
  const gpus: GpuMemory[] = [];
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const fields = line.split(",");
    if (fields.length < 6) {
      throw new Error(
        `Cannot parse nvidia-smi output: expected 6 fields, got line ${JSON.stringify(line)}`,
      );
    }
    const index = Number(fields[0]!.trim());
    if (!Number.isInteger(index)) {
      throw new Error(`Cannot parse nvidia-smi output: bad GPU index in ${JSON.stringify(line)}`);
    }
    gpus.push({
      index,
      uuid: fields[1]!.trim(),
      totalBytes: mebibytes(fields[2]!),
      usedBytes: mebibytes(fields[3]!),
      freeBytes: mebibytes(fields[4]!),
      // The name comes last because it is the one field that might hold a comma.
      name: fields.slice(5).join(",").trim(),
    });
  }
  return gpus;
}

export interface QueryGpuMemoryOptions {
  /** The nvidia-smi executable. @default {"nvidia-smi"} */
  command?: string;
  signal?: AbortSignal;
}

/**
 * The GPUs nvidia-smi sees; `undefined` when nvidia-smi is not installed or fails (no NVIDIA
 * driver): the caller then treats the host as having no NVIDIA GPU.
 */
export async function queryGpuMemory(
  options: QueryGpuMemoryOptions = {},
): Promise<GpuMemory[] | undefined> {
  const { command = "nvidia-smi", signal } = options;
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(command, {
      args: NVIDIA_SMI_ARGS,
      stdout: "piped",
      stderr: "null",
      stdin: "null",
      signal,
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
  if (!result.success) return undefined;
  return parseNvidiaSmiMemory(new TextDecoder().decode(result.stdout));
}

/**
 * The GPU CUDA calls `deviceId`, honouring `CUDA_VISIBLE_DEVICES` (indices or UUIDs, possibly
 * abbreviated). Undefined when it cannot be told (a MIG slice, a bad list).
 */
export function visibleGpu(
  gpus: readonly GpuMemory[],
  { deviceId, cudaVisibleDevices }: { deviceId: number; cudaVisibleDevices: string | undefined },
): GpuMemory | undefined {
  if (cudaVisibleDevices === undefined || cudaVisibleDevices.trim() === "") {
    return gpus.find((g) => g.index === deviceId);
  }
  const entry = cudaVisibleDevices.split(",").map((s) => s.trim())[deviceId];
  if (entry === undefined || entry === "") return undefined;
  if (/^\d+$/.test(entry)) return gpus.find((g) => g.index === Number(entry));
  if (entry.startsWith("MIG-")) return undefined;
  const uuid = entry.startsWith("GPU-") ? entry : `GPU-${entry}`;
  const matches = gpus.filter((g) => g.uuid.startsWith(uuid));
  return matches.length === 1 ? matches[0] : undefined;
}
