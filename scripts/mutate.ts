/**
 * `deno task mutate [filter...] [--list] [--keep] [--tests=...]`: runs the single-condition faults kept in
 * `tests/mutations/*.json` one at a time and reports, per fault, whether the tests that cover it
 * notice it, and how fast:
 *
 * - killed: the tests failed within the deadline (1.5x their unmutated time plus 20 s);
 * - slow: they had not failed by the deadline (the run is stopped there);
 * - survived: they passed with the fault in place;
 * - stale: the fault's original snippet is no longer in its file (exactly once), so the fault
 *   must be updated to the code as it is now.
 *
 * The repository's tracked and untracked (not ignored) files are copied into a scratch
 * directory first (node_modules and data are linked), and every fault is applied there, so the
 * working tree is never changed, even when the run is killed. Each distinct set of tests runs
 * once unmutated first, for its baseline time; a set whose baseline fails is reported and its
 * faults are skipped. Tests run like `deno task test` runs them (`deno test -A --parallel` with
 * TEST_DATABASE_URL and TEST_REDIS_URL), plus `--no-check`: a fault is killed by a test, never
 * by the type checker; a mutated run also has `--fail-fast`, so its time is the time to the first
 * failure.
 *
 * A filter keeps the faults whose id, file or description contains it (any of several).
 * `--tests=a_test.ts,b_test.ts` runs those tests for every fault instead of the fault's own (to
 * see what a given suite notices, e.g. the tests as they were before a guard got its test).
 * Results also go to `test-artifacts/mutate.json`. Exit status 0 only when every fault run was
 * killed. See docs/TESTING.md.
 */
import { dirname, join, relative } from "node:path";

export interface Fault {
  /** Unique, stable name: `<area>.<script or module>.<guard>`. */
  id: string;
  /** Path from the repository root. */
  file: string;
  /** The exact text the fault replaces; it must occur exactly once in `file`. */
  original: string;
  replacement: string;
  /** Test files (paths from the root) that cover the guard. */
  tests: string[];
  /** Optional `deno test --filter` (a test name substring, or /regex/). */
  filter?: string;
  /** What the fault does to the guard, in words. */
  description: string;
}

export type Outcome = "killed" | "slow" | "survived" | "stale" | "baseline-failed";

export interface Result {
  id: string;
  file: string;
  outcome: Outcome;
  /** Seconds the mutated run took (to the failure, the deadline, or the pass). */
  seconds?: number;
  baselineSeconds?: number;
  deadlineSeconds?: number;
  description: string;
}

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const FAULT_DIR = join(ROOT, "tests", "mutations");

/** Reads every fault file, checking the shape and that ids are unique. */
export async function loadFaults(dir = FAULT_DIR): Promise<Fault[]> {
  const faults: Fault[] = [];
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => e.name).sort();
  for (const name of names) {
    const list = JSON.parse(await Deno.readTextFile(join(dir, name)));
    if (!Array.isArray(list)) throw new Error(`${name}: expected an array of faults`);
    for (const [i, f] of list.entries()) {
      for (const k of ["id", "file", "original", "description"] as const) {
        if (typeof f[k] !== "string" || f[k] === "") {
          throw new Error(`${name}[${i}]: "${k}" must be a non-empty string`);
        }
      }
      if (typeof f.replacement !== "string") {
        throw new Error(`${name}[${i}]: "replacement" must be a string (empty to delete)`);
      }
      if (f.original === f.replacement) throw new Error(`${name}[${i}] ${f.id}: changes nothing`);
      if (!Array.isArray(f.tests) || f.tests.length === 0) {
        throw new Error(`${name}[${i}] ${f.id}: "tests" must list the test files that cover it`);
      }
      faults.push(f as Fault);
    }
  }
  const seen = new Set<string>();
  for (const f of faults) {
    if (seen.has(f.id)) throw new Error(`fault id ${f.id} is used twice`);
    seen.add(f.id);
  }
  return faults;
}

/** How many times `needle` occurs in `hay`. */
export function occurrences(hay: string, needle: string): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/** The deadline of a mutated run: 1.5x the baseline plus 20 s. */
export function deadlineFor(baselineSeconds: number): number {
  return 1.5 * baselineSeconds + 20;
}

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Copies the working tree's files (tracked and untracked, not ignored) into a scratch dir. */
async function makeScratch(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "semantik-mutate-" });
  const files = (await run("git", ["ls-files", "-co", "--exclude-standard", "-z"], ROOT))
    .split("\0").filter((f) => f !== "");
  for (const f of files) {
    const src = join(ROOT, f);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(src);
    } catch {
      continue; // deleted in the working tree
    }
    if (!info.isFile) continue;
    await Deno.mkdir(dirname(join(dir, f)), { recursive: true });
    await Deno.copyFile(src, join(dir, f));
  }
  for (const linked of ["node_modules", "data"]) {
    try {
      await Deno.stat(join(ROOT, linked));
      await Deno.symlink(join(ROOT, linked), join(dir, linked));
    } catch { /* not there */ }
  }
  return dir;
}

async function ping(cmd: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

/** The environment `deno task test` gives the tests (it finds the same servers). */
async function testEnv(): Promise<Record<string, string>> {
  const db = Deno.env.get("TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
  const redis = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";
  const r = new URL(redis);
  if (!(await ping(["redis-cli", "-h", r.hostname, "-p", r.port || "6379", "ping"]))) {
    console.error(`warning: Redis does not answer at ${redis} (redis-cli ping)`);
  }
  return { TEST_DATABASE_URL: db, TEST_REDIS_URL: redis };
}

interface RunResult {
  passed: boolean;
  timedOut: boolean;
  seconds: number;
  tail: string;
}

/**
 * Runs `deno test` on `tests` in `cwd`, in a process group of its own (setsid), so that the
 * processes the tests spawn go with it when the deadline stops the run.
 */
async function runTests(
  cwd: string,
  env: Record<string, string>,
  tests: string[],
  filter: string | undefined,
  deadlineSeconds: number,
  failFast = false,
): Promise<RunResult> {
  const args = [
    "test",
    "-A",
    "--parallel",
    "--no-check",
    ...(failFast ? ["--fail-fast"] : []),
    ...(filter ? ["--filter", filter] : []),
    ...tests,
  ];
  const started = performance.now();
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), ...args],
    cwd,
    env: { ...env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }, deadlineSeconds * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  // Whatever the tests started and left behind goes too.
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch { /* none left */ }
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return {
    passed: out.success && !timedOut,
    timedOut,
    seconds,
    tail: text.split("\n").slice(-40).join("\n"),
  };
}

function fmt(s: number | undefined): string {
  return s === undefined ? "-" : `${s.toFixed(1)}s`;
}

/** The results as a Markdown table (for docs/TESTING.md). */
export function markdownTable(results: Result[]): string {
  const rows = results.map((r) =>
    `| \`${r.id}\` | ${r.description} | ${r.outcome} | ${fmt(r.seconds)} | ` +
    `${fmt(r.baselineSeconds)} |`
  );
  return [
    "| fault | what it breaks | outcome | failed after | baseline |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const args = Deno.args.filter((a) => !a.startsWith("--"));
  const list = Deno.args.includes("--list");
  const keep = Deno.args.includes("--keep");
  const verbose = Deno.args.includes("--verbose");
  const override = Deno.args.find((a) => a.startsWith("--tests="))?.slice("--tests=".length);
  const all = (await loadFaults()).map((f) =>
    override ? { ...f, tests: override.split(","), filter: undefined } : f
  );
  const faults = args.length === 0
    ? all
    : all.filter((f) => args.some((a) => (f.id + " " + f.file + " " + f.description).includes(a)));
  if (list) {
    let stale = 0;
    for (const f of faults) {
      const text = await Deno.readTextFile(join(ROOT, f.file)).catch(() => "");
      const ok = occurrences(text, f.original) === 1;
      if (!ok) stale++;
      console.log(`${ok ? "     " : "STALE"} ${f.id.padEnd(44)} ${f.file}  ${f.description}`);
    }
    console.log(`${faults.length} faults, ${stale} stale`);
    return stale === 0 ? 0 : 1;
  }
  if (faults.length === 0) {
    console.error(`No fault matches ${args.join(" ")}`);
    return 1;
  }
  const env = await testEnv();
  const scratch = await makeScratch();
  console.log(`mutate: ${faults.length} faults; scratch copy at ${scratch}`);
  const results: Result[] = [];
  const baselines = new Map<string, RunResult>();
  try {
    for (const f of faults) {
      const path = join(scratch, f.file);
      let source: string;
      try {
        source = await Deno.readTextFile(path);
      } catch {
        source = "";
      }
      const n = occurrences(source, f.original);
      if (n !== 1) {
        const r: Result = { id: f.id, file: f.file, outcome: "stale", description: f.description };
        results.push(r);
        console.log(
          `STALE     ${f.id}: the original snippet occurs ${n} times in ${f.file} (expected once)`,
        );
        continue;
      }
      const key = JSON.stringify([f.tests, f.filter ?? ""]);
      let base = baselines.get(key);
      if (!base) {
        base = await runTests(scratch, env, f.tests, f.filter, 900);
        baselines.set(key, base);
        console.log(
          `baseline  ${fmt(base.seconds)} ${base.passed ? "pass" : "FAIL"}: ${f.tests.join(" ")}` +
            (f.filter ? ` --filter ${JSON.stringify(f.filter)}` : ""),
        );
        if (!base.passed) console.log(base.tail);
      }
      if (!base.passed) {
        results.push({
          id: f.id,
          file: f.file,
          outcome: "baseline-failed",
          baselineSeconds: base.seconds,
          description: f.description,
        });
        console.log(`SKIPPED   ${f.id}: its tests fail without the fault`);
        continue;
      }
      const deadline = deadlineFor(base.seconds);
      await Deno.writeTextFile(path, source.replace(f.original, () => f.replacement));
      let m: RunResult;
      try {
        m = await runTests(scratch, env, f.tests, f.filter, deadline, true);
      } finally {
        await Deno.writeTextFile(path, source);
      }
      const outcome: Outcome = m.timedOut ? "slow" : m.passed ? "survived" : "killed";
      results.push({
        id: f.id,
        file: f.file,
        outcome,
        seconds: m.seconds,
        baselineSeconds: base.seconds,
        deadlineSeconds: deadline,
        description: f.description,
      });
      console.log(
        `${outcome.toUpperCase().padEnd(9)} ${f.id} in ${fmt(m.seconds)} ` +
          `(baseline ${fmt(base.seconds)}, deadline ${fmt(deadline)}): ${f.description}`,
      );
      if (verbose && outcome === "killed") console.log(m.tail);
    }
  } finally {
    if (!keep) await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const artifacts = join(ROOT, "test-artifacts");
  await Deno.mkdir(artifacts, { recursive: true });
  await Deno.writeTextFile(join(artifacts, "mutate.json"), JSON.stringify(results, null, 2));
  await Deno.writeTextFile(join(artifacts, "mutate.md"), markdownTable(results));
  console.log(
    `mutate: ${results.length} faults: ${count("killed")} killed, ${count("slow")} slow, ` +
      `${count("survived")} survived, ${count("stale")} stale, ` +
      `${count("baseline-failed")} skipped (baseline failed); results in ` +
      relative(Deno.cwd(), join(artifacts, "mutate.json")),
  );
  return results.every((r) => r.outcome === "killed") ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
