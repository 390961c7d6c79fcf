/**
 * Installs what the roles (api, worker, scheduler) load, and nothing else, into `node_modules/`:
 * the container images run it with only the manifests copied, so the layer is rebuilt only when
 * a manifest changes.
 *
 *   deno run --no-config --no-lock -A scripts/install_runtime_deps.ts [deno install flags, e.g.
 *     --allow-scripts=npm:onnxruntime-node]
 *
 * (`--no-config --no-lock`: running this script must not itself resolve the workspace and rewrite
 * `deno.lock` before the script compares against it.)
 *
 * What it does, in the current directory:
 * 1. Narrows the workspace in `deno.json` to the runtime members: the test (`tests/deno.json`) and
 *    bench (`bench/deno.json`) members and their packages drop out of the install.
 * 2. Runs `deno install`, which drops their packages from `deno.lock` too, and checks that every
 *    package left in the lockfile was in the committed one with the same integrity: nothing is
 *    resolved anew (what `--frozen` guarantees, which refuses any lockfile change, removals too).
 * 3. Removes the `typescript` package (with its 27 MB native compiler) that
 *    `@qdrant/js-client-rest` declares as a peer for its type declarations only: nothing at run
 *    time loads it.
 * 4. Sets `"nodeModulesDir": "manual"`: at run time Deno uses `node_modules/` as it is and never
 *    installs (or restores the removed peer) into a read-only image.
 *
 * Exits 1 naming what went wrong. Never run it in a development checkout: it rewrites `deno.json`.
 */

/** Workspace members whose packages only tests and benchmarks load. */
export const NON_RUNTIME_MEMBERS = ["./tests", "./bench"];

/**
 * Packages installed only as peers nothing loads at run time: the `<name>@<version>` directories
 * under `node_modules/.deno` they occupy.
 */
export const UNUSED_PEERS = [/^typescript@/, /^@typescript\+typescript-/];

interface Lockfile {
  npm?: Record<string, { integrity?: string }>;
}

function fail(message: string): never {
  console.error(`install_runtime_deps: ${message}`);
  Deno.exit(1);
}

async function main(args: string[]): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile("deno.json"));
  const committedLock: Lockfile = JSON.parse(await Deno.readTextFile("deno.lock"));
  if (!Array.isArray(config.workspace)) fail("deno.json has no workspace list");
  config.workspace = config.workspace.filter((m: string) => !NON_RUNTIME_MEMBERS.includes(m));
  config.nodeModulesDir = "auto";
  await Deno.writeTextFile("deno.json", JSON.stringify(config, null, 2) + "\n");

  const install = await new Deno.Command(Deno.execPath(), {
    args: ["install", ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!install.success) fail(`deno install exited with ${install.code}`);

  const lock: Lockfile = JSON.parse(await Deno.readTextFile("deno.lock"));
  const added = Object.entries(lock.npm ?? {}).filter(([id, p]) =>
    committedLock.npm?.[id]?.integrity !== p.integrity
  ).map(([id]) => id);
  if (added.length > 0) {
    fail(
      `deno.lock is out of date: these packages were resolved anew instead of taken from it: ${
        added.join(", ")
      }. Run deno install in a checkout and commit deno.lock.`,
    );
  }

  let removed = 0;
  for await (const entry of Deno.readDir("node_modules/.deno")) {
    if (UNUSED_PEERS.some((re) => re.test(entry.name))) {
      await Deno.remove(`node_modules/.deno/${entry.name}`, { recursive: true });
      removed++;
    }
  }
  // Links to the removed peer (its package's dependency link, the hoisted one, `.bin/tsc`).
  const dangling = await removeDanglingLinks("node_modules", 4);

  config.nodeModulesDir = "manual";
  await Deno.writeTextFile("deno.json", JSON.stringify(config, null, 2) + "\n");
  console.error(
    `install_runtime_deps: installed the runtime packages of ${config.workspace.join(", ")}; ` +
      `removed ${removed} unused peer package director${
        removed === 1 ? "y" : "ies"
      } and ${dangling} links to them`,
  );
}

/** Removes symbolic links under `dir` (at most `depth` levels down) whose target is gone. */
async function removeDanglingLinks(dir: string, depth: number): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isSymlink) {
      try {
        await Deno.stat(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        await Deno.remove(path);
        n++;
      }
    } else if (entry.isDirectory && depth > 0) {
      n += await removeDanglingLinks(path, depth - 1);
    }
  }
  return n;
}

if (import.meta.main) await main(Deno.args);
