/**
 * Git sources against repositories the tests make: served over file://, over smart HTTP
 * (`git http-backend` behind a local HTTPS server, with basic auth for the token cases) and
 * over ssh:// (a stand-in ssh that runs the remote command locally).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AppError } from "@semantik/shared";
import {
  diffEntries,
  type SourceEntry,
  type SourceFile,
} from "../shared/sources/document_source.ts";
import { GitSource, type GitSourceOptions } from "../shared/sources/git_source.ts";
import type { GitSourceConfig } from "../shared/sources/source_schemas.ts";
import { SourceError } from "../shared/sources/source_error.ts";
import { ExtractionError } from "../shared/extraction/extraction_error.ts";
import { git, TestRepo } from "./helpers/git_repo.ts";
import { makeTestCertificate, startGitHttpServer } from "./helpers/git_http_server.ts";

const TOKEN = "tok_9f8e7d6c5b4a-secret";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "git_source_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function source(
  root: string,
  config: Omit<GitSourceConfig, "type">,
  options: Partial<GitSourceOptions> = {},
): GitSource {
  return new GitSource({ type: "git", ...config }, {
    directory: join(root, "state"),
    documentRoots: [root],
    maxFileSizeBytes: 1024 * 1024,
    ...options,
  });
}

const files = (entries: readonly SourceEntry[]) =>
  entries.filter((e): e is SourceFile => e.kind === "file");
const tokens = (entries: readonly SourceEntry[]) =>
  new Map(files(entries).map((e) => [e.uri, e.changeToken]));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("GitSource over file:// lists the default branch, then sync finds exactly the files commits added, modified, renamed and deleted", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    const first = await repo.commit({
      "README.md": "# Alpha\n",
      "docs/guide.md": "beta guide\n",
      "docs/old-name.md": "gamma notes\n",
      "src/main.ts": "export const delta = 1;\n",
      ".github/ci.yml": "hidden: true\n",
    });
    const url = `file://${root}/origin`;
    const uri = (path: string) => `${url}@main:${path}`;
    const s = source(root, { url });

    const one = await s.list();
    assert.equal(one.revision, first);
    assert.equal(one.ref, "main");
    assert.equal(one.stats.cloned, 1);
    assert.deepEqual(one.entries.map((e) => e.uri).sort(), [
      uri("README.md"),
      uri("docs/guide.md"),
      uri("docs/old-name.md"),
      uri("src/main.ts"),
    ]);
    const readme = files(one.entries).find((e) => e.path === "README.md")!;
    assert.equal(readme.changeToken, `git:${await repo.blob("README.md")}`);
    assert.equal(readme.size, 8);
    for (const e of files(one.entries)) {
      assert.equal(
        text(await s.open(e, { maxBytes: 1024 })),
        await Deno.readTextFile(join(root, "origin", e.path)),
      );
    }

    const second = await repo.commit({
      "docs/new.md": "epsilon\n",
      "README.md": "# Alpha, revised\n",
      "docs/renamed.md": { from: "docs/old-name.md" },
      "src/main.ts": null,
    });
    const two = await s.list();
    assert.equal(two.revision, second);
    assert.equal(two.stats.cloned, 0);
    const changes = diffEntries(tokens(one.entries), two.entries);
    assert.deepEqual(changes.added.sort(), [uri("docs/new.md"), uri("docs/renamed.md")]);
    assert.deepEqual(changes.modified, [uri("README.md")]);
    assert.deepEqual(changes.deleted.sort(), [uri("docs/old-name.md"), uri("src/main.ts")]);
    assert.deepEqual(changes.unchanged, [uri("docs/guide.md")]);
    // The renamed file keeps its blob: same content, new uri.
    const renamed = files(two.entries).find((e) => e.path === "docs/renamed.md")!;
    assert.equal(renamed.changeToken, tokens(one.entries).get(uri("docs/old-name.md")));
    assert.equal(text(await s.open(renamed, { maxBytes: 1024 })), "gamma notes\n");

    // Nothing new: the same commit and the same tokens.
    const three = await s.list();
    assert.equal(three.revision, second);
    assert.equal(three.stats.changed_commit, 0);
    assert.deepEqual(diffEntries(tokens(two.entries), three.entries).unchanged.length, 4);
    await s.close();
  });
});

Deno.test("GitSource makes the clone when its directory lacks it (another worker) and again when it is broken", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    const head = await repo.commit({ "a.md": "one\n", "b.md": "two\n" });
    const url = `file://${root}/origin`;
    const first = await source(root, { url }).list();
    assert.equal(first.stats.cloned, 1);

    const elsewhere = source(root, { url }, { directory: join(root, "other-worker") });
    const listed = await elsewhere.list();
    assert.equal(listed.stats.cloned, 1);
    assert.equal(listed.revision, head);
    assert.deepEqual([...tokens(listed.entries)], [...tokens(first.entries)]);

    await Deno.remove(join(root, "other-worker", "repo.git", "HEAD"));
    const again = await elsewhere.list();
    assert.equal(again.stats.cloned, 1);
    assert.deepEqual([...tokens(again.entries)], [...tokens(first.entries)]);
    await elsewhere.close();
  });
});

Deno.test("GitSource follows a force-pushed branch: a shallow fetch and the indexed ref moved", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    const base = await repo.commit({ "keep.md": "kept\n" });
    await repo.commit({ "dropped.md": "will be rewritten away\n" });
    const url = `file://${root}/origin`;
    const s = source(root, { url });
    const before = await s.list();
    assert.deepEqual(files(before.entries).map((e) => e.path), ["dropped.md", "keep.md"]);

    await git(repo.dir, "reset", "--quiet", "--hard", base);
    const rewritten = await repo.commit({ "replacement.md": "after the force push\n" });
    const after = await s.list();
    assert.equal(after.revision, rewritten);
    assert.deepEqual(files(after.entries).map((e) => e.path), ["keep.md", "replacement.md"]);
    const changes = diffEntries(tokens(before.entries), after.entries);
    assert.deepEqual(changes.deleted, [`${url}@main:dropped.md`]);
    assert.deepEqual(changes.added, [`${url}@main:replacement.md`]);
    const replacement = files(after.entries).find((e) => e.path === "replacement.md")!;
    assert.equal(text(await s.open(replacement, { maxBytes: 100 })), "after the force push\n");
    await s.close();
  });
});

Deno.test("GitSource takes a branch, a tag or a commit id as ref, and names it in uris", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    const v1 = await repo.commit({ "notes.md": "version one\n" });
    await git(repo.dir, "tag", "-a", "v1.0", "-m", "release");
    await git(repo.dir, "checkout", "--quiet", "-b", "feature");
    const feature = await repo.commit({ "notes.md": "feature work\n", "extra.md": "x\n" });
    await git(repo.dir, "checkout", "--quiet", "main");
    const main = await repo.commit({ "notes.md": "version two\n" });
    const url = `file://${root}/origin`;

    const cases: [string | undefined, string, string, string[]][] = [
      [undefined, "main", main, ["notes.md"]],
      ["feature", "feature", feature, ["extra.md", "notes.md"]],
      ["v1.0", "v1.0", v1, ["notes.md"]],
      [v1, v1, v1, ["notes.md"]],
    ];
    for (const [ref, named, commit, paths] of cases) {
      const s = source(root, { url, ref }, { directory: join(root, `state-${named}`) });
      const l = await s.list();
      assert.equal(l.revision, commit, `ref ${ref}`);
      assert.equal(l.ref, named);
      assert.deepEqual(l.entries.map((e) => e.uri), paths.map((p) => `${url}@${named}:${p}`));
      const notes = files(l.entries).find((e) => e.path === "notes.md")!;
      assert.equal(
        text(await s.open(notes, { maxBytes: 100 })),
        { main: "version two\n", feature: "feature work\n" }[named] ?? "version one\n",
      );
      await s.close();
    }
  });
});

Deno.test("GitSource fails with not_found for a missing ref or repository, and refuses file:// outside DOCUMENT_ROOTS", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    await repo.commit({ "a.md": "a\n" });
    const url = `file://${root}/origin`;
    await assert.rejects(source(root, { url, ref: "no-such-branch" }).list(), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.code, "not_found");
      assert.equal(err.permanent, true);
      assert.match(err.message, /ref does not exist/);
      return true;
    });
    await Deno.mkdir(join(root, "empty-dir"));
    await assert.rejects(
      source(root, { url: `file://${root}/empty-dir` }).list(),
      (err: unknown) => err instanceof SourceError && err.code === "not_found",
    );
    const outside = await Deno.makeTempDir();
    try {
      await TestRepo.create(outside).then((r) => r.commit({ "x.md": "x\n" }));
      await assert.rejects(
        source(root, { url: `file://${outside}` }).list(),
        (err: unknown) => err instanceof AppError && err.code === "path_not_allowed",
      );
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});

Deno.test("GitSource lists links, submodules and large files as skipped, applies globs, and never reads a link's target", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    await Deno.mkdir(join(repo.dir, "docs"), { recursive: true });
    await Deno.symlink("/etc/passwd", join(repo.dir, "docs", "passwd.md"));
    await repo.commit({
      "docs/intro.md": "intro\n",
      "docs/big.md": "x".repeat(2048),
      "docs/drafts/wip.md": "draft\n",
      "notes.txt": "not included\n",
    });
    // A submodule: a commit id in the tree, no working files.
    await git(
      repo.dir,
      "update-index",
      "--add",
      "--cacheinfo",
      `160000,${"a".repeat(40)},vendor/lib`,
    );
    await git(repo.dir, "commit", "--quiet", "-m", "submodule");
    const url = `file://${root}/origin`;
    const s = source(root, { url, include: ["*.md", "vendor/**"], exclude: ["drafts"] }, {
      maxFileSizeBytes: 1024,
    });
    const l = await s.list();
    const byPath = new Map(l.entries.map((e) => [e.path, e]));
    assert.deepEqual([...byPath.keys()].sort(), [
      "docs/big.md",
      "docs/intro.md",
      "docs/passwd.md",
      "vendor/lib",
    ]);
    assert.equal(byPath.get("docs/intro.md")!.kind, "file");
    const big = byPath.get("docs/big.md")!;
    assert.equal(big.kind, "skipped");
    assert.match(big.kind === "skipped" ? big.reason : "", /larger than the 1024 byte limit.*2048/);
    assert.deepEqual(
      {
        kind: byPath.get("docs/passwd.md")!.kind,
        reason: (byPath.get("docs/passwd.md") as { reason: string }).reason,
      },
      { kind: "skipped", reason: "symbolic link (Git sources do not follow links)" },
    );
    assert.equal(byPath.get("vendor/lib")!.kind, "skipped");
    await s.close();
  });
});

Deno.test("GitSource.open() refuses a blob over the cap and one the clone no longer holds, and keeps serving after", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    await repo.commit({ "big.md": "y".repeat(5000), "small.md": "small\n" });
    const s = source(root, { url: `file://${root}/origin` });
    const l = await s.list();
    const big = files(l.entries).find((e) => e.path === "big.md")!;
    const small = files(l.entries).find((e) => e.path === "small.md")!;
    await assert.rejects(
      s.open(big, { maxBytes: 100 }),
      (err: unknown) => err instanceof ExtractionError && err.status === "skipped",
    );
    await assert.rejects(
      s.open({ ...small, changeToken: `git:${"0".repeat(40)}` }, { maxBytes: 100 }),
      (err: unknown) =>
        err instanceof ExtractionError && err.status === "failed" &&
        /no longer in the local clone/.test(err.reason),
    );
    // The drained oversize blob left the stream aligned: the next reads are right.
    assert.equal(text(await s.open(small, { maxBytes: 100 })), "small\n");
    assert.equal((await s.open(big, { maxBytes: 10_000 })).length, 5000);
    const aborted = new AbortController();
    aborted.abort(new Error("stop"));
    await assert.rejects(s.open(small, { maxBytes: 100, signal: aborted.signal }), /stop/);
    assert.equal(text(await s.open(small, { maxBytes: 100 })), "small\n");
    await s.close();
    await s.close();
  });
});

/** A git that writes its argv to `log`, then runs the real one. */
async function recordingGit(dir: string, log: string): Promise<string> {
  const path = join(dir, "recording-git");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec git "$@"\n`,
    { mode: 0o755 },
  );
  return path;
}

async function containsBytes(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const bytes = new TextEncoder().encode(needle);
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const data = await Deno.readFile(p);
        outer: for (let i = 0; i + bytes.length <= data.length; i++) {
          for (let j = 0; j < bytes.length; j++) if (data[i + j] !== bytes[j]) continue outer;
          hits.push(p);
          break;
        }
      }
    }
  };
  await walk(dir);
  return hits;
}

Deno.test("GitSource over smart HTTPS with a token: basic auth, the token never in argv, the clone or errors; sync fetches only what changed", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "served", "docs"));
    // Random bytes do not compress: the clone carries all of them, an incremental fetch none.
    const noise = crypto.getRandomValues(new Uint8Array(65536));
    const hex = Array.from(noise, (b) => b.toString(16).padStart(2, "0")).join("");
    await repo.commit({ "noise.txt": hex, "guide.md": "first\n" });
    const tls = await makeTestCertificate(root);
    const server = startGitHttpServer({
      projectRoot: join(root, "served"),
      ...tls,
      credentials: { username: "x-access-token", password: TOKEN },
    });
    try {
      const argvLog = join(root, "argv.log");
      const url = `${server.origin}/docs`;
      // A user configuration with a credential store: git must neither use it nor fill it.
      const home = join(root, "home");
      await Deno.mkdir(home);
      const credentials = join(home, "credentials");
      await Deno.writeTextFile(
        join(home, ".gitconfig"),
        `[credential]\n\thelper = store --file ${credentials}\n`,
      );
      const s = source(root, { url, token: TOKEN }, {
        git: await recordingGit(root, argvLog),
        env: { GIT_SSL_CAINFO: tls.certPath, HOME: home },
      });
      const one = await s.list();
      assert.deepEqual(files(one.entries).map((e) => e.uri), [
        `${url}@main:guide.md`,
        `${url}@main:noise.txt`,
      ]);
      const cloneBytes = server.requests.reduce((n, r) => n + r.bytes, 0);
      assert.ok(cloneBytes > 65536, `the clone transferred ${cloneBytes} bytes`);
      assert.ok(server.requests.some((r) => r.status === 401), "the server asked for credentials");

      server.requests.length = 0;
      await repo.commit({ "guide.md": "second\n" });
      const two = await s.list();
      const changes = diffEntries(tokens(one.entries), two.entries);
      assert.deepEqual(changes.modified, [`${url}@main:guide.md`]);
      assert.deepEqual(changes.unchanged, [`${url}@main:noise.txt`]);
      const fetchBytes = server.requests.reduce((n, r) => n + r.bytes, 0);
      assert.ok(
        fetchBytes < 16384,
        `the fetch after one small commit transferred ${fetchBytes} bytes (clone: ${cloneBytes})`,
      );
      const guide = files(two.entries).find((e) => e.path === "guide.md")!;
      assert.equal(text(await s.open(guide, { maxBytes: 100 })), "second\n");
      await s.close();

      const argv = await Deno.readTextFile(argvLog);
      assert.match(argv, /fetch/);
      assert.ok(!argv.includes(TOKEN), "the token is in a git command line");
      assert.deepEqual(await containsBytes(join(root, "state"), TOKEN), []);
      await assert.rejects(
        Deno.stat(credentials),
        Deno.errors.NotFound,
        "a credential store kept the token",
      );
    } finally {
      await server.close();
    }
  });
});

Deno.test("GitSource over HTTPS: a wrong token and a missing one fail clearly with auth_failed, the token not in the message", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "served", "docs"));
    await repo.commit({ "a.md": "a\n" });
    const tls = await makeTestCertificate(root);
    const server = startGitHttpServer({
      projectRoot: join(root, "served"),
      ...tls,
      credentials: { username: "x-access-token", password: TOKEN },
    });
    try {
      const url = `${server.origin}/docs`;
      const env = { GIT_SSL_CAINFO: tls.certPath };
      const wrong = "wrong-token-123456";
      await assert.rejects(source(root, { url, token: wrong }, { env }).list(), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.code, "auth_failed");
        assert.equal(err.permanent, true);
        assert.match(err.message, /refused the credentials/);
        assert.ok(!err.message.includes(wrong));
        return true;
      });
      await assert.rejects(
        source(root, { url }, { env, directory: join(root, "no-token") }).list(),
        (err: unknown) =>
          err instanceof SourceError && err.code === "auth_failed" &&
          /give the source a token/.test(err.message),
      );
      const ok = await source(root, { url, token: TOKEN }, { env }).list();
      assert.equal(files(ok.entries).length, 1);
    } finally {
      await server.close();
    }
  });
});

Deno.test("GitSource over ssh:// runs git through the ssh command it is given", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    const head = await repo.commit({ "a.md": "over ssh\n" });
    // Stands in for ssh: runs the remote command (git-upload-pack '<path>') here.
    const fakeSsh = join(root, "fake-ssh");
    const log = join(root, "ssh.log");
    await Deno.writeTextFile(
      fakeSsh,
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nfor last; do :; done\nexec sh -c "$last"\n`,
      { mode: 0o755 },
    );
    const url = `ssh://git@git.example.test${repo.dir}`;
    const s = source(root, { url }, { sshCommand: fakeSsh });
    const l = await s.list();
    assert.equal(l.revision, head);
    assert.deepEqual(l.entries.map((e) => e.uri), [`${url}@main:a.md`]);
    assert.equal(text(await s.open(files(l.entries)[0]!, { maxBytes: 100 })), "over ssh\n");
    assert.match(await Deno.readTextFile(log), /git@git\.example\.test .*git-upload-pack/);
    await s.close();
  });
});

Deno.test("GitSource lets git use only the URL's own protocol, whatever the user's configuration rewrites it to", async () => {
  await withDir(async (root) => {
    const repo = await TestRepo.create(join(root, "origin"));
    await repo.commit({ "a.md": "a\n" });
    const home = join(root, "home");
    await Deno.mkdir(home);
    // An insteadOf rule turning an https:// source into a local read.
    await Deno.writeTextFile(
      join(home, ".gitconfig"),
      `[url "file://${repo.dir}"]\n\tinsteadOf = https://git.example.test/team/docs\n`,
    );
    const s = source(root, { url: "https://git.example.test/team/docs" }, { env: { HOME: home } });
    await assert.rejects(s.list(), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.code, "not_allowed");
      return true;
    });
  });
});

Deno.test("GitSource refuses a config the schema refuses before running git (an option-like ref, a password in the URL)", () => {
  const options = { directory: "/nonexistent", documentRoots: [], maxFileSizeBytes: 1 };
  assert.throws(
    () => new GitSource({ type: "git", url: "https://h/r", ref: "--upload-pack=touch" }, options),
    /Cannot create Git source: ref/,
  );
  assert.throws(
    () => new GitSource({ type: "git", url: "https://u:pw@h/r" }, options),
    /Cannot create Git source: url must not contain a password/,
  );
});
