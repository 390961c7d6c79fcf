/**
 * How many CPU cores this process may really use: the smaller of the cores it is allowed to run
 * on (`os.availableParallelism()`) and its cgroup's CPU quota (a container limited to 1.5 CPUs on
 * a 64-core host gets 2, not 64). ONNX Runtime's own default (`intraOpNumThreads: 0`) counts
 * physical cores and ignores quotas: on a 2-vCPU virtual machine whose vCPUs it takes for one
 * core's hyperthreads it runs on one thread.
 */
import os from "node:os";

/**
 * The CPUs a cgroup v2 `cpu.max` line allows (`"200000 100000"` → 2), or undefined for no limit
 * (`"max 100000"`) or text that is not such a line.
 */
export function parseCpuMax(text: string): number | undefined {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 1 || parts.length > 2 || parts[0] === "max") return undefined;
  const quota = Number(parts[0]);
  const period = parts.length === 2 ? Number(parts[1]) : 100_000;
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) {
    return undefined;
  }
  return quota / period;
}

/** The CPUs of cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` (quota -1: no limit). */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  const quota = Number(quotaText.trim());
  const period = Number(periodText.trim());
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) {
    return undefined;
  }
  return quota / period;
}

/**
 * The cgroup v2 path of this process from `/proc/self/cgroup` (`0::/some/path`), or undefined
 * on a cgroup v1 host.
 */
export function parseCgroupV2Path(text: string): string | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3).trim() || "/";
  }
  return undefined;
}

/** Reads a file; undefined when it is missing or unreadable. */
export type ReadText = (path: string) => string | undefined;

function readTextSync(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The CPU quota of this process's cgroup (the tightest of its own and its ancestors' limits,
 * cgroup v2; the `cpu` controller's, cgroup v1), or undefined when there is none.
 */
export function cgroupCpuLimit(
  read: ReadText = readTextSync,
  root = "/sys/fs/cgroup",
): number | undefined {
  const limits: number[] = [];
  const self = read("/proc/self/cgroup");
  const v2Path = self === undefined ? undefined : parseCgroupV2Path(self);
  // Inside a container the cgroup namespace makes its own group the root; outside it, the path
  // names the group below the root. Walk from the group up to the root either way.
  const dirs = [root];
  if (v2Path && v2Path !== "/") {
    let path = v2Path.replace(/\/+$/, "");
    while (path !== "") {
      dirs.push(root + path);
      path = path.slice(0, path.lastIndexOf("/"));
    }
  }
  for (const dir of dirs) {
    const text = read(`${dir}/cpu.max`);
    const limit = text === undefined ? undefined : parseCpuMax(text);
    if (limit !== undefined) limits.push(limit);
  }
  const quota = read(`${root}/cpu/cpu.cfs_quota_us`) ??
    read(`${root}/cpu,cpuacct/cpu.cfs_quota_us`);
  const period = read(`${root}/cpu/cpu.cfs_period_us`) ??
    read(`${root}/cpu,cpuacct/cpu.cfs_period_us`);
  if (quota !== undefined && period !== undefined) {
    const limit = parseCfsQuota(quota, period);
    if (limit !== undefined) limits.push(limit);
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

export interface AvailableCpusOptions {
  /** Cores the process may run on. @default {os.availableParallelism()} */
  parallelism?: number;
  /** The cgroup quota in CPUs. @default {cgroupCpuLimit()} */
  quota?: number | undefined;
}

/**
 * Cores this process can use: the allowed cores, capped by the cgroup quota rounded up (a quota
 * of 1.5 CPUs keeps two threads busy part of the time), at least 1.
 */
export function availableCpus(options: AvailableCpusOptions = {}): number {
  const parallelism = options.parallelism ?? os.availableParallelism();
  const quota = "quota" in options ? options.quota : cgroupCpuLimit();
  const capped = quota === undefined ? parallelism : Math.min(parallelism, Math.ceil(quota));
  return Math.max(1, Math.floor(capped));
}
