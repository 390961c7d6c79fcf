/**
 * CPU seconds of this process by kind of thread, and of other processes, from Linux' /proc
 * (benchmarks only; elsewhere every figure is 0). On a loaded machine wall time swings with the
 * neighbours, CPU time much less, and the split says where a pipeline's CPU goes.
 *
 * Kinds of this process' threads: `main` (the JavaScript thread), `inference` (Web Worker
 * threads, named `worker-N`, and the ONNX Runtime operator threads they start, which inherit the
 * name), `other` (V8's compiler and GC helpers, Tokio's I/O threads).
 *
 * `machine`: the busy CPU seconds of the whole machine (/proc/stat: user, nice, system, irq,
 * softirq, steal), so that what a run costs the services it shares (Postgres backends, Redis) is
 * counted too: on a quiet machine, `machine` minus this process and the named ones is them.
 */

export interface CpuSample {
  main: number;
  inference: number;
  other: number;
  /** Other processes, by the name the caller gave them. */
  processes: Record<string, number>;
  /** The whole machine's busy seconds (every process, every CPU). */
  machine: number;
}

const TICKS_PER_S = 100;

/** utime + stime of a /proc stat line, in seconds; `comm` may hold spaces and parentheses. */
function parseStat(stat: string): { comm: string; seconds: number } {
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(stat.indexOf("(") + 1, close);
  const fields = stat.slice(close + 2).split(" ");
  return { comm, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S };
}

function readStat(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // not Linux, or the thread or process has ended
  }
}

/** Busy seconds so far of all the machine's CPUs, from the first line of /proc/stat. */
function machineBusy(): number {
  const line = readStat("/proc/stat")?.split("\n", 1)[0];
  if (!line?.startsWith("cpu ")) return 0;
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.slice(4).trim().split(
    /\s+/,
  ).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
    TICKS_PER_S;
}

/** CPU seconds so far of this process' threads (by kind) and of the processes in `pids`. */
export function sampleCpu(pids: Record<string, number | undefined> = {}): CpuSample {
  const sample: CpuSample = { main: 0, inference: 0, other: 0, processes: {}, machine: 0 };
  let tasks: Deno.DirEntry[] = [];
  try {
    tasks = [...Deno.readDirSync("/proc/self/task")];
  } catch { /* not Linux */ }
  const self = String(Deno.pid);
  for (const t of tasks) {
    const stat = readStat(`/proc/self/task/${t.name}/stat`);
    if (!stat) continue;
    const { comm, seconds } = parseStat(stat);
    if (t.name === self) sample.main += seconds;
    else if (/^worker-\d+$/.test(comm)) sample.inference += seconds;
    else sample.other += seconds;
  }
  for (const [name, pid] of Object.entries(pids)) {
    const stat = pid === undefined ? undefined : readStat(`/proc/${pid}/stat`);
    sample.processes[name] = stat ? parseStat(stat).seconds : 0;
  }
  sample.machine = machineBusy();
  return sample;
}

/** `after - before`, rounded to milliseconds. */
export function cpuSince(before: CpuSample, after: CpuSample): CpuSample {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const processes: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.processes)) {
    processes[k] = r(v - (before.processes[k] ?? 0));
  }
  return {
    main: r(after.main - before.main),
    inference: r(after.inference - before.inference),
    other: r(after.other - before.other),
    processes,
    machine: r(after.machine - before.machine),
  };
}
