/**
 * What the images install (`scripts/install_runtime_deps.ts`, run with only the manifests, as the
 * Dockerfile's deps stage does): the runtime members' packages, none of the test or bench
 * packages, not the Qdrant client's unused `typescript` peer, and nothing resolved anew.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
/** What the Dockerfile copies before installing. */
const MANIFESTS = [
  "deno.json",
  "deno.lock",
  "shared/deno.json",
  "api/deno.json",
  "worker/deno.json",
  "scheduler/deno.json",
  "scripts/install_runtime_deps.ts",
];

async function copyManifests(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "semantik-runtime-install-" });
  for (const file of MANIFESTS) {
    await Deno.mkdir(join(dir, dirname(file)), { recursive: true });
    await Deno.copyFile(join(ROOT, file), join(dir, file));
  }
  return dir;
}

async function install(dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--no-lock", "-A", "scripts/install_runtime_deps.ts"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
}

/** The npm packages of a member's import map (local mappings, such as the vendored driver, aside). */
async function importMap(file: string): Promise<string[]> {
  const imports: Record<string, string> =
    JSON.parse(await Deno.readTextFile(join(ROOT, file))).imports ?? {};
  return Object.entries(imports)
    .filter(([k, v]) => !k.endsWith("/") && v.startsWith("npm:"))
    .map(([k]) => k);
}

Deno.test("the image install holds the runtime packages only", async () => {
  const dir = await copyManifests();
  try {
    const res = await install(dir);
    assert.equal(res.code, 0, res.text);
    const top = new Set<string>();
    for await (const e of Deno.readDir(join(dir, "node_modules"))) {
      if (!e.name.startsWith("@")) {
        if (e.name !== ".deno" && e.name !== ".bin") top.add(e.name);
        continue;
      }
      for await (const s of Deno.readDir(join(dir, "node_modules", e.name))) {
        top.add(`${e.name}/${s.name}`);
      }
    }
    const runtime = await importMap("deno.json");
    assert.deepEqual([...top].sort(), [...runtime].sort());
    const installed: string[] = [];
    for await (const e of Deno.readDir(join(dir, "node_modules", ".deno"))) installed.push(e.name);
    for (
      const name of [...await importMap("tests/deno.json"), ...await importMap("bench/deno.json")]
    ) {
      const dirName = name.replace("/", "+");
      assert.ok(!installed.some((d) => d.startsWith(`${dirName}@`)), `${name} is installed`);
    }
    assert.ok(!installed.some((d) => /^(@typescript\+)?typescript/.test(d)), installed.join(" "));
    // Nothing left pointing at what was removed.
    const dangling = await new Deno.Command("find", {
      args: [join(dir, "node_modules"), "-xtype", "l"],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(dangling.stdout), "");
    const config = JSON.parse(await Deno.readTextFile(join(dir, "deno.json")));
    assert.equal(config.nodeModulesDir, "manual");
    assert.deepEqual(config.workspace, ["./shared", "./api", "./worker", "./scheduler"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the image install fails when deno.lock misses a package instead of resolving it anew", async () => {
  const dir = await copyManifests();
  try {
    const lockPath = join(dir, "deno.lock");
    const lock = JSON.parse(await Deno.readTextFile(lockPath));
    // A runtime package the lockfile does not pin (someone added it and did not commit deno.lock).
    const victim = Object.keys(lock.npm).find((id) => id.startsWith("picomatch@"))!;
    delete lock.npm[victim];
    for (const k of Object.keys(lock.specifiers)) {
      if (k.startsWith("npm:picomatch@")) delete lock.specifiers[k];
    }
    await Deno.writeTextFile(lockPath, JSON.stringify(lock, null, 2));
    const res = await install(dir);
    assert.equal(res.code, 1, res.text);
    assert.match(res.text, /deno\.lock is out of date: .*picomatch@/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
