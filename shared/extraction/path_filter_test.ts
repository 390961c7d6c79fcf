import assert from "node:assert/strict";
import { createPathFilter } from "./path_filter.ts";

Deno.test("createPathFilter() takes every file when there are no globs", () => {
  const filter = createPathFilter();
  assert.ok(filter.includesFile("a.txt"));
  assert.ok(filter.includesFile("deep/down/b.md"));
  assert.ok(!filter.excludesDirectory("deep"));
});

Deno.test("createPathFilter() reads globs as gitignore does, exclude winning", async (t) => {
  const filter = createPathFilter({
    include: ["*.md", "docs/**/*.txt", "/top.html"],
    exclude: ["drafts", "**/*.secret.md", "build/"],
  });
  const cases: [string, boolean][] = [
    ["readme.md", true], // a bare pattern matches at any depth
    ["a/b/c/notes.md", true],
    ["docs/x/y/z.txt", true],
    ["other/z.txt", false], // a pattern with a slash is anchored
    ["top.html", true],
    ["sub/top.html", false], // a leading slash anchors a bare name
    ["drafts/idea.md", false], // an excluded directory excludes what is below it
    ["a/drafts/idea.md", false],
    ["plan.secret.md", false], // exclude wins over include
    ["build/out.md", false],
    ["notes.pdf", false],
  ];
  for (const [path, expected] of cases) {
    await t.step(path, () => assert.equal(filter.includesFile(path), expected));
  }
  assert.ok(filter.excludesDirectory("drafts"));
  assert.ok(filter.excludesDirectory("x/drafts"));
  assert.ok(filter.excludesDirectory("build"));
  assert.ok(!filter.excludesDirectory("docs"));
});

Deno.test("createPathFilter() matches dot files: hiding them is the scanner's choice", () => {
  assert.ok(createPathFilter({ include: ["*.md"] }).includesFile(".github/notes.md"));
  assert.ok(!createPathFilter({ exclude: [".git"] }).includesFile(".git/config"));
});

Deno.test("createPathFilter() rejects globs that are not strings", () => {
  assert.throws(() => createPathFilter({ include: [3 as unknown as string] }), TypeError);
  assert.throws(() => createPathFilter({ exclude: "*.md" as unknown as string[] }), TypeError);
});
