import assert from "node:assert/strict";
import { join } from "node:path";
import { AppError } from "../errors.ts";
import { resolveSourcePath } from "./resolve_source_path.ts";

const notAllowed = (pattern: RegExp) => (err: unknown) =>
  err instanceof AppError && err.code === "path_not_allowed" && err.status === 422 &&
  pattern.test(err.message);

Deno.test("resolveSourcePath() returns the real path of a directory inside a root", async () => {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "resolve_source_test_" }));
  try {
    const root = join(base, "docs");
    await Deno.mkdir(join(root, "team", "notes"), { recursive: true });
    await Deno.mkdir(join(base, "docs2"));
    await Deno.mkdir(join(base, "outside"));
    await Deno.writeTextFile(join(root, "file.txt"), "x");
    await Deno.symlink(join(root, "team"), join(root, "team-link"));
    await Deno.symlink(join(base, "outside"), join(root, "escape"));
    // A root given through a symlink counts as its target.
    await Deno.symlink(root, join(base, "docs-link"));

    assert.equal(await resolveSourcePath(root, [root]), root);
    assert.equal(
      await resolveSourcePath(join(root, "team", "notes"), [root]),
      join(root, "team", "notes"),
    );
    assert.equal(await resolveSourcePath(join(root, "team-link"), [root]), join(root, "team"));
    assert.equal(
      await resolveSourcePath(join(root, "team", "..", "team"), [root]),
      join(root, "team"),
    );
    assert.equal(
      await resolveSourcePath(join(root, "team"), [join(base, "docs-link")]),
      join(root, "team"),
    );
    assert.equal(
      await resolveSourcePath(join(root, "team"), ["relative/root", root]),
      join(root, "team"),
    );

    await assert.rejects(
      () => resolveSourcePath("docs/team", [root]),
      notAllowed(/must be absolute/),
    );
    await assert.rejects(() => resolveSourcePath("", [root]), notAllowed(/must be absolute/));
    await assert.rejects(
      () => resolveSourcePath(join(root, "nope"), [root]),
      notAllowed(/does not exist/),
    );
    await assert.rejects(
      () => resolveSourcePath(join(root, "file.txt"), [root]),
      notAllowed(/not a directory/),
    );
    await assert.rejects(
      () => resolveSourcePath(join(root, "escape"), [root]),
      notAllowed(/outside DOCUMENT_ROOTS/),
    );
    // Whole path components: /x/docs2 is not inside /x/docs.
    await assert.rejects(
      () => resolveSourcePath(join(base, "docs2"), [root]),
      notAllowed(/outside/),
    );
    await assert.rejects(() => resolveSourcePath(join(root, ".."), [root]), notAllowed(/outside/));
    // Outside the roots, existence is not disclosed.
    await assert.rejects(
      () => resolveSourcePath(join(base, "missing"), [root]),
      notAllowed(/outside/),
    );
    await assert.rejects(() => resolveSourcePath(root, []), notAllowed(/outside/));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
