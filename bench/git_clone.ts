/**
 * `deno task bench:git`: the evidence behind Git sources using the git binary (see
 * shared/sources/README.md). A generated repository is served over smart HTTP by `git
 * http-backend`; each round clones it at depth 1 without a checkout and lists every blob id, once
 * with the git binary (what `GitSource` runs: init --bare, fetch --depth=1, ls-tree) and once with
 * isomorphic-git (clone depth 1, noCheckout, walk), alternating which goes first.
 *
 * Usage: deno task bench:git [--files N] [--rounds N]
 *
 * Prints one line per clone and a JSON summary (best of the rounds for each) as its last line.
 */
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import fs from "node:fs";
import { parseArgs } from "node:util";
import { positiveArg, seededRandom } from "./_common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { files: { type: "string", default: "8000" }, rounds: { type: "string", default: "2" } },
});
const files = positiveArg("files", values.files);
const rounds = positiveArg("rounds", values.rounds);

const GIT_ENV = {
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@example.com",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@example.com",
};

async function run(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    env: GIT_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`git ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

const root = await Deno.makeTempDir({ prefix: "bench_git_" });
const repo = `${root}/served/repo`;
await Deno.mkdir(repo, { recursive: true });
await run(repo, "init", "--quiet", "-b", "main");
const random = seededRandom(42);
let textBytes = 0;
for (let i = 0; i < files; i++) {
  const dir = `${repo}/d${i % 50}`;
  await Deno.mkdir(dir, { recursive: true });
  const lines = Array.from({ length: 40 }, (_, j) => `line ${j} of file ${i}: ${random()}`);
  const text = `# File ${i}\n${lines.join("\n")}\n`;
  textBytes += text.length;
  await Deno.writeTextFile(`${dir}/f${i}.md`, text);
}
await run(repo, "add", "--all");
await run(repo, "commit", "--quiet", "-m", "files");
// A served repository is packed, as a hosting service's is.
await run(repo, "repack", "-adq");

let served = 0;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const url = new URL(req.url);
  const body = new Uint8Array(await req.arrayBuffer());
  const child = new Deno.Command("git", {
    args: ["http-backend"],
    env: {
      GIT_PROJECT_ROOT: `${root}/served`,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method,
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers.get("content-type") ?? "",
      CONTENT_LENGTH: String(body.length),
      GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
      HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(body);
  await writer.close();
  const out = (await child.output()).stdout;
  const head = new TextDecoder("latin1").decode(out.subarray(0, 4096));
  const crlf = head.indexOf("\r\n\r\n");
  const end = crlf >= 0 ? crlf + 4 : head.indexOf("\n\n") + 2;
  const headers = new Headers();
  let status = 200;
  for (const line of head.slice(0, end).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else headers.set(name, value);
  }
  served += out.length - end;
  return new Response(out.slice(end), { status, headers });
});
const url = `http://127.0.0.1:${server.addr.port}/repo`;

async function gitBinary(dir: string): Promise<number> {
  await Deno.mkdir(dir);
  await run(dir, "init", "--quiet", "--bare");
  await run(dir, "fetch", "--quiet", "--depth=1", url, "main");
  const tree = await run(dir, "ls-tree", "-r", "-z", "--long", "FETCH_HEAD");
  return tree.split("\0").filter((l) => l !== "").length;
}

async function isomorphicGit(dir: string): Promise<number> {
  await git.clone({ fs, http, dir, url, depth: 1, singleBranch: true, noCheckout: true });
  const oid = await git.resolveRef({ fs, dir, ref: "HEAD" });
  let blobs = 0;
  await git.walk({
    fs,
    dir,
    trees: [git.TREE({ ref: oid })],
    map: async (_path, [entry]) => {
      if (entry && (await entry.type()) === "blob") {
        await entry.oid();
        blobs++;
      }
      return true;
    },
  });
  return blobs;
}

const best: Record<string, number> = { git: Infinity, isomorphic_git: Infinity };
console.log(`repository: ${files} files, ${(textBytes / 1e6).toFixed(1)} MB of text`);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ["isomorphic_git", "git"] : ["git", "isomorphic_git"];
  for (const tool of order) {
    served = 0;
    const dir = `${root}/${tool}-${r}`;
    const start = performance.now();
    const listed = tool === "git" ? await gitBinary(dir) : await isomorphicGit(dir);
    const ms = performance.now() - start;
    if (listed !== files) throw new Error(`${tool} listed ${listed} files, expected ${files}`);
    best[tool] = Math.min(best[tool]!, ms);
    console.log(`round ${r + 1} ${tool}: ${ms.toFixed(0)} ms, ${served} bytes served`);
  }
}
await server.shutdown();
await Deno.remove(root, { recursive: true });
console.log(JSON.stringify({
  files,
  rounds,
  git_ms: Math.round(best.git!),
  isomorphic_git_ms: Math.round(best.isomorphic_git!),
  ratio: Number((best.isomorphic_git! / best.git!).toFixed(2)),
}));
