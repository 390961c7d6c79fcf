/**
 * The terminal client (`deno task index`) against the whole system served by `scripts/dev.ts`:
 * it indexes a directory and prints the counts; run again on a collection whose source is gone,
 * the operation fails and the client exits non-zero.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { testRedisUrl, TINY_MODEL_NAME, writeTinyModel } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const DEV = new URL("../scripts/dev.ts", import.meta.url).pathname;
const CLI = new URL("../scripts/index_cli.ts", import.meta.url).pathname;

async function runCli(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("deno task index indexes a directory with live progress and exits non-zero on failure", async () => {
  const root = await Deno.makeTempDir({ prefix: "semantik-cli-" });
  const docs = join(root, "notes");
  await Deno.mkdir(docs);
  for (let i = 0; i < 5; i++) {
    await Deno.writeTextFile(join(docs, `n${i}.md`), `# Note ${i}\n\nsome text ${i}`);
  }
  await Deno.writeTextFile(join(docs, "empty.txt"), "");
  const models = join(root, "models");
  await writeTinyModel(join(models, ...TINY_MODEL_NAME.split("/")), { maxTokens: 256 });
  const dev = spawnDeno(DEV, {
    env: {
      PORT: "0",
      DATA_DIR: join(root, "data"),
      DOCUMENT_ROOTS: root,
      MODELS_DIR: models,
      DEFAULT_EMBEDDING_MODEL: TINY_MODEL_NAME,
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: `test:cli:${crypto.randomUUID().slice(0, 8)}:`,
    },
  });
  try {
    const [, api] = await dev.waitForLine(/api listening url=(\S+)/);
    const reg = await fetch(`${api}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "cli-user", password: "cli-password" }),
    });
    assert.equal(reg.status, 201);
    await reg.body?.cancel();
    const env = { SEMANTIK_USERNAME: "cli-user", SEMANTIK_PASSWORD: "cli-password" };

    const first = await runCli([docs, "--api", api!], env);
    assert.equal(first.code, 0, first.text);
    assert.match(first.text, /Creating collection notes/);
    assert.match(first.text, /index completed/);
    assert.match(first.text, /documents total: 6/);
    assert.match(first.text, /documents processed: 5/);
    assert.match(first.text, /documents skipped: 1/);
    assert.match(first.text, /\[#{30}\] 100%/);

    // The collection exists now: the client syncs it instead of creating it.
    const again = await runCli([docs, "--api", api!], env);
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /exists: syncing/);
    assert.match(again.text, /sync completed/);

    // Its source disappears: the sync fails and the client says so with a non-zero status.
    await Deno.remove(docs, { recursive: true });
    const elsewhere = join(root, "other");
    await Deno.mkdir(elsewhere);
    const failed = await runCli([elsewhere, "--collection", "notes", "--api", api!], env);
    assert.equal(failed.code, 1, failed.text);
    assert.match(failed.text, /sync failed/);

    const usage = await runCli([], env);
    assert.equal(usage.code, 2);
    assert.match(usage.text, /Usage: deno task index/);
  } finally {
    await dev.stop("SIGINT");
    await dev.stop("SIGKILL");
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task index: an unknown flag exits 2, and --help lists every variable it reads", async () => {
  const unknown = await runCli(["--bogus", "."], {});
  assert.equal(unknown.code, 2, unknown.text);
  assert.match(unknown.text, /Unknown option '--bogus'/);
  assert.match(unknown.text, /Usage: deno task index/);
  const missingValue = await runCli([".", "--api"], {});
  assert.equal(missingValue.code, 2, missingValue.text);

  const help = await runCli(["--help"], {});
  assert.equal(help.code, 0, help.text);
  const source = await Deno.readTextFile(CLI);
  const read = new Set([...source.matchAll(/Deno\.env\.get\("([A-Z_]+)"\)/g)].map((m) => m[1]!));
  assert.ok(read.has("SEMANTIK_API"), [...read].join(", "));
  const environment = help.text.split(/^Environment:$/m)[1] ?? "";
  for (const name of read) {
    assert.match(environment, new RegExp(`^  ${name} `, "m"), `--help does not list ${name}`);
  }
  for (const flag of ["--collection", "--api", "--register", "--help"]) {
    assert.ok(help.text.includes(flag), flag);
  }
});

Deno.test("deno task index --register registers a new user, logs in an existing one, says when registration is closed", async () => {
  const calls: string[] = [];
  let registered = false;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    calls.push(`${req.method} ${path}`);
    const body = await req.json().catch(() => ({}));
    if (path === "/api/auth/register") {
      if (body.username === "closed") {
        return Response.json({
          error: { code: "forbidden", message: "Registration is closed on this server" },
        }, { status: 403 });
      }
      if (registered) {
        return Response.json({ error: { code: "conflict", message: "taken" } }, { status: 409 });
      }
      registered = true;
      return Response.json({ user: { id: crypto.randomUUID(), username: body.username } }, {
        status: 201,
      });
    }
    if (path === "/api/auth/login") {
      return Response.json({
        error: { code: "unauthorized", message: "Invalid username or password" },
      }, { status: 401 });
    }
    return new Response(null, { status: 404 });
  });
  const api = `http://127.0.0.1:${server.addr.port}`;
  try {
    const env = { SEMANTIK_USERNAME: "alice", SEMANTIK_PASSWORD: "my-password", SEMANTIK_API: api };
    const first = await runCli(["--register", "."], env);
    assert.match(first.text, /Registered alice/);
    // The fake refuses every login: the client stops there, exit 1, after register then login.
    assert.equal(first.code, 1, first.text);
    assert.deepEqual(calls.splice(0), ["POST /api/auth/register", "POST /api/auth/login"]);
    const again = await runCli(["--register", "."], env);
    assert.doesNotMatch(again.text, /Registered/);
    assert.deepEqual(calls.splice(0), ["POST /api/auth/register", "POST /api/auth/login"]);
    const plain = await runCli(["."], env);
    assert.match(plain.text, /add --register/);
    const closed = await runCli(["--register", "."], { ...env, SEMANTIK_USERNAME: "closed" });
    assert.equal(closed.code, 1);
    assert.match(closed.text, /Cannot register closed: Registration is closed/);
  } finally {
    await server.shutdown();
  }
});
