import assert from "node:assert/strict";
import { join } from "node:path";
import { ExtractionError } from "../extraction/extraction_error.ts";
import { diffEntries, type SourceFile } from "./document_source.ts";
import { DirectorySource, statChangeToken } from "./directory_source.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir());
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("DirectorySource lists a scan with size-and-mtime tokens and opens the files it listed", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(join(root, "docs"));
    await Deno.writeTextFile(join(root, "docs", "a.md"), "alpha\n");
    await Deno.writeTextFile(join(root, "docs", "big.txt"), "x".repeat(100));
    const s = new DirectorySource({ path: join(root, "docs") }, {
      documentRoots: [root],
      maxFileSizeBytes: 50,
    });
    const one = await s.list();
    const a = one.entries.find((e) => e.path === "a.md") as SourceFile;
    const info = await Deno.stat(join(root, "docs", "a.md"));
    assert.equal(a.uri, join(root, "docs", "a.md"));
    assert.equal(a.changeToken, statChangeToken(6, info.mtime!.getTime()));
    assert.equal(one.entries.find((e) => e.path === "big.txt")?.kind, "skipped");
    assert.equal(new TextDecoder().decode(await s.open(a, { maxBytes: 50 })), "alpha\n");

    await Deno.writeTextFile(join(root, "docs", "a.md"), "alpha, longer\n");
    const two = await s.list();
    const stored = new Map([[a.uri, a.changeToken]]);
    assert.deepEqual(diffEntries(stored, two.entries.filter((e) => e.kind === "file")).modified, [
      a.uri,
    ]);
    await assert.rejects(
      s.open(a, { maxBytes: 4 }),
      (err: unknown) => err instanceof ExtractionError && err.status === "skipped",
    );
  });
});

Deno.test("DirectorySource.open() refuses a file swapped for a link leading outside DOCUMENT_ROOTS since the scan", async () => {
  await withRoot(async (root) => {
    const outside = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(join(outside, "secret.txt"), "secret\n");
      await Deno.writeTextFile(join(root, "a.txt"), "fine\n");
      const s = new DirectorySource({ path: root }, {
        documentRoots: [root],
        maxFileSizeBytes: 100,
      });
      const [entry] = (await s.list()).entries as SourceFile[];
      await Deno.remove(join(root, "a.txt"));
      await Deno.symlink(join(outside, "secret.txt"), join(root, "a.txt"));
      await assert.rejects(
        s.open(entry!, { maxBytes: 100 }),
        (err: unknown) =>
          err instanceof ExtractionError && err.status === "skipped" &&
          err.reason === "link leaving the roots",
      );
      await Deno.remove(join(root, "a.txt"));
      await assert.rejects(
        s.open(entry!, { maxBytes: 100 }),
        (err: unknown) => err instanceof ExtractionError && err.status === "failed",
      );
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});
