/**
 * README's terminal example, run as written against a fresh `deno task dev` (a new data
 * directory, the project's directory as its document root): a newcomer's first command works,
 * and works again.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { testModelsDir, testRedisUrl } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEV = join(ROOT, "scripts/dev.ts");
const MARKER = ".semantik-readme-test";

/** The README's `deno task index` command line (the line in its sh block). */
async function readmeCommand(): Promise<string> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const lines = blocks.flatMap((b) => b.split("\n")).filter((l) => /deno task index /.test(l));
  assert.equal(
    lines.length,
    1,
    `expected one deno task index line in README's sh blocks: ${lines}`,
  );
  return lines[0]!.replace(/\s+#.*$/, "").trim();
}

Deno.test("README's deno task index example works as written on a fresh deno task dev", async () => {
  const command = await readmeCommand();
  const dirArg = command.split(/\s+/).at(-1)!;
  assert.match(dirArg, /^\.\//, command);
  const notes = join(ROOT, dirArg);
  try {
    await Deno.stat(join(notes, MARKER));
    await Deno.remove(notes, { recursive: true }); // left by an interrupted run of this test
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(notes); // fails, rather than touching them, when someone's notes are there
  await Deno.writeTextFile(join(notes, MARKER), "");
  await Deno.writeTextFile(join(notes, "ideas.md"), "# Ideas\n\nIndex notes from a terminal.");
  await Deno.writeTextFile(join(notes, "todo.txt"), "Try the dashboard's live progress.");
  const dataDir = await Deno.makeTempDir({ prefix: "semantik-readme-" });
  const dev = spawnDeno(DEV, {
    cwd: ROOT,
    env: {
      PORT: "0",
      DATA_DIR: dataDir,
      MODELS_DIR: testModelsDir(),
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: `test:readme:${crypto.randomUUID().slice(0, 8)}:`,
    },
  });
  try {
    const [, api] = await dev.waitForLine(/api listening url=(\S+)/);
    const run = async () => {
      const out = await new Deno.Command("bash", {
        args: ["-c", command],
        cwd: ROOT,
        env: {
          NO_COLOR: "1",
          PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
          // Where this test's system listens (the README's default is http://127.0.0.1:8080).
          SEMANTIK_API: api!,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
    };
    const first = await run();
    assert.equal(first.code, 0, first.text);
    assert.match(first.text, /Registered \S+/);
    assert.match(first.text, /index completed/);
    assert.match(first.text, /documents processed: 2/);

    const again = await run();
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /sync completed/);

    // One process, one registry: the API's /metrics carries the worker's and scheduler's too.
    const metrics = await (await fetch(`${api}/metrics`)).text();
    for (
      const family of [
        "semantik_http_request_duration_seconds",
        "semantik_job_attempts_total",
        "semantik_embedding_texts_total",
        "semantik_scheduler_ticks_total",
        "process_cpu_seconds_total",
      ]
    ) assert.match(metrics, new RegExp(`^# TYPE ${family} `, "m"), family);
    assert.match(
      metrics,
      /^semantik_job_attempts_total\{queue="default",task="indexing\.process_source"\} [1-9]/m,
    );
  } finally {
    await dev.stop("SIGINT");
    await dev.stop("SIGKILL");
    await Deno.remove(notes, { recursive: true }).catch(() => {});
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
