import assert from "node:assert/strict";
import { redactSourceConfig, sourceConfigSchema } from "./source_schemas.ts";

Deno.test("sourceConfigSchema takes directory, git and web sources told apart by type", () => {
  const cases = [
    { type: "directory", path: "/srv/docs", include: ["*.md"] },
    { type: "git", url: "https://git.example.com/a/b.git" },
    {
      type: "git",
      url: "ssh://git@host/srv/repo",
      ref: "release/2.x",
      include: ["docs/**"],
      exclude: ["*.png"],
      token: "ghp_abc",
    },
    { type: "web", url: "https://docs.example.com/guide/" },
    { type: "web", url: "http://intranet/wiki", max_pages: 50, max_depth: 0, exclude: ["*.pdf"] },
  ];
  for (const c of cases) assert.deepEqual(sourceConfigSchema.parse(c), c);
});

Deno.test("sourceConfigSchema refuses bad sources, naming the field", () => {
  const bad: [unknown, string][] = [
    [{ type: "svn", url: "https://x/y" }, "type"],
    [{ type: "git", url: "https://u:p@host/r" }, "url"],
    [{ type: "git", url: "https://host/r", ref: "a..b" }, "ref"],
    [{ type: "git", url: "https://host/r", token: "line\nbreak" }, "token"],
    [{ type: "git", url: "https://host/r", path: "/x" }, ""],
    [{ type: "web", url: "ftp://host/" }, "url"],
    [{ type: "web", url: "https://user:pw@host/" }, "url"],
    [{ type: "web", url: "https://host/", max_pages: 0 }, "max_pages"],
    [{ type: "web", url: "https://host/", max_depth: -1 }, "max_depth"],
    [{ type: "web", url: "https://host/", include: [""] }, "include"],
  ];
  for (const [input, field] of bad) {
    const r = sourceConfigSchema.safeParse(input);
    assert.ok(!r.success, JSON.stringify(input));
    assert.equal(String(r.error.issues[0]?.path[0] ?? ""), field, JSON.stringify(r.error.issues));
  }
});

Deno.test("redactSourceConfig() hides a git token and leaves other sources alone", () => {
  const git = sourceConfigSchema.parse({ type: "git", url: "https://h/r", token: "ghp_abc" });
  assert.deepEqual(redactSourceConfig(git), { type: "git", url: "https://h/r", token: "***" });
  assert.ok(!JSON.stringify(redactSourceConfig(git)).includes("ghp_abc"));
  const web = sourceConfigSchema.parse({ type: "web", url: "https://h/" });
  assert.equal(redactSourceConfig(web), web);
});
