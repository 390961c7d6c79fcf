import assert from "node:assert/strict";
import { join } from "node:path";
import { ExtractionError } from "./extraction_error.ts";
import { type DocumentFs, LINK_LEAVING_ROOTS, openDocument } from "./open_document.ts";

/** A root with `doc.txt` inside, and `secret.txt` in a directory beside it (outside the root). */
async function withTree(
  fn: (t: { root: string; doc: string; outside: string; secret: string }) => Promise<void>,
): Promise<void> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "open_document_test_" }));
  try {
    const root = join(base, "root");
    const outside = join(base, "outside");
    await Deno.mkdir(root);
    await Deno.mkdir(outside);
    const doc = join(root, "doc.txt");
    const secret = join(outside, "secret.txt");
    await Deno.writeTextFile(doc, "inside text");
    await Deno.writeTextFile(secret, "SECRET outside text");
    await fn({ root, doc, outside, secret });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

const leaving = (err: unknown) =>
  err instanceof ExtractionError && err.status === "skipped" && err.reason === LINK_LEAVING_ROOTS;

async function readAll(file: Deno.FsFile): Promise<string> {
  return await new Response(file.readable).text();
}

/** Deno's calls, with `step` run after the named one. */
function fsWith(after: keyof DocumentFs, step: () => Promise<void>): DocumentFs {
  const fs: DocumentFs = {
    lstat: (p) => Deno.lstat(p),
    open: (p, o) => Deno.open(p, o),
    realPath: (p) => Deno.realPath(p),
    stat: (p) => Deno.stat(p),
  };
  const call = fs[after] as (...args: unknown[]) => Promise<unknown>;
  let done = false;
  (fs as unknown as Record<string, unknown>)[after] = async (...args: unknown[]) => {
    const result = await call(...args);
    if (!done) {
      done = true;
      await step();
    }
    return result;
  };
  return fs;
}

Deno.test("openDocument() opens a regular file inside the roots", async () => {
  await withTree(async ({ root, doc }) => {
    const opened = await openDocument(doc, [root]);
    assert.equal(opened.realPath, doc);
    assert.ok(opened.info.isFile);
    assert.equal(await readAll(opened.file), "inside text");
  });
});

Deno.test("openDocument() refuses a path that is a symlink when it is opened", async () => {
  await withTree(async ({ root, doc, secret }) => {
    await Deno.remove(doc);
    await Deno.symlink(secret, doc);
    await assert.rejects(() => openDocument(doc, [root]), leaving);
    // Even a link to a file inside the roots: the scan listed the file, not a link.
    const other = join(root, "other.txt");
    await Deno.writeTextFile(other, "other");
    await Deno.remove(doc);
    await Deno.symlink(other, doc);
    await assert.rejects(() => openDocument(doc, [root]), leaving);
  });
});

Deno.test("openDocument() refuses a file swapped for a link between its lstat and its open (device and inode differ)", async () => {
  await withTree(async ({ root, doc }) => {
    // The link's target lies inside the roots (a hidden file the scan left out), so only the
    // device and inode comparison can tell that what was opened is not what was checked.
    const hidden = join(root, ".env");
    await Deno.writeTextFile(hidden, "API_KEY=hidden");
    const fs = fsWith("lstat", async () => {
      await Deno.remove(doc);
      await Deno.symlink(hidden, doc);
    });
    await assert.rejects(() => openDocument(doc, [root], { fs }), leaving);
  });
});

Deno.test("openDocument() refuses a path whose directory now leads outside the roots (real path outside)", async () => {
  await withTree(async ({ root, outside }) => {
    // `sub` was a directory at scan time; now it is a link out, and sub/secret.txt is a regular
    // file to lstat, open and fstat alike.
    await Deno.symlink(outside, join(root, "sub"));
    await assert.rejects(() => openDocument(join(root, "sub", "secret.txt"), [root]), leaving);
  });
});

Deno.test("openDocument() refuses a directory swapped out for the open and back for the real path check", async () => {
  await withTree(async ({ root, outside }) => {
    const sub = join(root, "sub");
    await Deno.mkdir(join(root, "real-sub"));
    await Deno.writeTextFile(join(root, "real-sub", "secret.txt"), "harmless");
    await Deno.symlink(outside, sub);
    // Opened through the link (outside); by the real path check, sub leads inside again.
    const fs = fsWith("open", async () => {
      await Deno.remove(sub);
      await Deno.symlink(join(root, "real-sub"), sub);
    });
    await assert.rejects(() => openDocument(join(sub, "secret.txt"), [root], { fs }), leaving);
  });
});

Deno.test("openDocument() skips what is not a regular file and fails what is missing", async () => {
  await withTree(async ({ root }) => {
    await assert.rejects(
      () => openDocument(root, [root]),
      (err: unknown) => err instanceof ExtractionError && err.reason === "not a regular file",
    );
    await assert.rejects(
      () => openDocument(join(root, "missing.txt"), [root]),
      (err: unknown) => err instanceof ExtractionError && err.status === "failed",
    );
  });
});
