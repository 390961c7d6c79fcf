import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import { checkGitUrl, gitUrlProblem, isCommitId, isValidGitRef } from "./git_url.ts";

Deno.test("gitUrlProblem() takes https://, ssh:// and file:// URLs without credentials", async (t) => {
  for (
    const ok of [
      "https://git.example.com/team/docs.git",
      "https://oauth2@gitlab.example.com/team/docs",
      "ssh://git@github.com/org/repo.git",
      "ssh://git@host:2222/srv/repo",
      "file:///srv/repos/docs",
    ]
  ) {
    await t.step(ok, () => assert.equal(gitUrlProblem(ok), undefined));
  }
  const bad: [string, RegExp][] = [
    ["http://git.example.com/repo", /https:\/\/, ssh:\/\/ or file:\/\//],
    ["git://git.example.com/repo", /https:\/\/, ssh:\/\/ or file:\/\//],
    ["ext::sh -c touch% /tmp/pwned", /must be a URL|spaces/],
    ["git@github.com:org/repo.git", /scp-like/],
    ["https://user:secret@host/repo", /password/],
    ["https://host/repo?x=1", /query/],
    ["https://host/", /repository path/],
    ["ssh://-oProxyCommand=touch/repo", /must not start with '-'/],
    ["file://server/share/repo", /name no host/],
    ["https://host/re po", /spaces/],
    ["not a url", /spaces|must be a URL/],
  ];
  for (const [url, why] of bad) {
    await t.step(url, () => assert.match(gitUrlProblem(url) ?? "accepted", why));
  }
});

Deno.test("isValidGitRef() follows git check-ref-format and accepts commit ids", () => {
  for (const ok of ["main", "release/2.x", "v1.0.0", "feature-x", "a".repeat(40)]) {
    assert.ok(isValidGitRef(ok), ok);
  }
  for (
    const bad of [
      "",
      "-x",
      "a..b",
      "a b",
      "a~1",
      "a^",
      "a:b",
      "refs/heads/",
      "x.lock",
      ".hidden",
      "a//b",
      "x@{1}",
      "@",
      "a\\b",
    ]
  ) {
    assert.ok(!isValidGitRef(bad), bad);
  }
  assert.ok(isCommitId("0123456789abcdef0123456789abcdef01234567"));
  assert.ok(!isCommitId("0123456"));
});

Deno.test("checkGitUrl() allows file:// repositories inside DOCUMENT_ROOTS only", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/repo`);
    await checkGitUrl(`file://${root}/repo`, { documentRoots: [root] });
    await checkGitUrl("https://git.example.com/a/b", { documentRoots: [] });
    await Deno.symlink(outside, `${root}/escape`);
    for (const url of [`file://${outside}`, `file://${root}/escape`, `file://${root}/../`]) {
      await assert.rejects(
        checkGitUrl(url, { documentRoots: [root] }),
        (err: unknown) => err instanceof AppError && err.code === "path_not_allowed",
        url,
      );
    }
    await assert.rejects(checkGitUrl("http://x/y", { documentRoots: [root] }), TypeError);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
