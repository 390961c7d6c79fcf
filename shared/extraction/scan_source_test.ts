import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "../errors.ts";
import { openDocument } from "./open_document.ts";
import { type ScanEntry, scanSource, type ScanSourceOptions } from "./scan_source.ts";

interface Tree {
  base: string;
  root: string;
  outside: string;
}

async function withTree(fn: (tree: Tree) => Promise<void>): Promise<void> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "scan_source_test_" }));
  const root = join(base, "root");
  const outside = join(base, "outside");
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  try {
    await fn({ base, root, outside });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

async function write(path: string, content = "text"): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, content);
}

async function scan(
  path: string,
  options: Partial<ScanSourceOptions> & { documentRoots: string[] },
  globs: { include?: string[]; exclude?: string[] } = {},
): Promise<ScanEntry[]> {
  const entries: ScanEntry[] = [];
  for await (
    const entry of scanSource({ path, ...globs }, { maxFileSizeBytes: 1000, ...options })
  ) {
    entries.push(entry);
  }
  return entries;
}

const brief = (entries: ScanEntry[]) =>
  entries.map((e) => (e.kind === "file" ? `${e.path}` : `${e.path}: ${e.kind}: ${e.reason}`));

Deno.test("scanSource() walks depth-first in name order with real paths, sizes and mtimes", async () => {
  await withTree(async ({ root }) => {
    await write(join(root, "b.txt"), "bbb");
    await write(join(root, "a", "z.md"));
    await write(join(root, "a", "y", "x.txt"));
    await write(join(root, "C.txt"));
    await write(join(root, "a.txt"));
    const entries = await scan(root, { documentRoots: [root] });
    assert.deepEqual(brief(entries), ["C.txt", "a/y/x.txt", "a/z.md", "a.txt", "b.txt"]);
    const b = entries.find((e) => e.path === "b.txt")!;
    assert.equal(b.kind, "file");
    assert.equal(b.uri, join(root, "b.txt"));
    assert.equal(b.size, 3);
    const stat = await Deno.stat(join(root, "b.txt"));
    assert.equal(b.mtimeMs, stat.mtime!.getTime());
    // The same tree gives the same sequence.
    assert.deepEqual(await scan(root, { documentRoots: [root] }), entries);
  });
});

Deno.test("scanSource() leaves hidden files and directories out unless includeHidden", async () => {
  await withTree(async ({ root }) => {
    await write(join(root, ".hidden.md"));
    await write(join(root, ".git", "config"));
    await write(join(root, "visible.md"));
    assert.deepEqual(brief(await scan(root, { documentRoots: [root] })), ["visible.md"]);
    assert.deepEqual(
      brief(await scan(root, { documentRoots: [root], includeHidden: true })),
      [".git/config", ".hidden.md", "visible.md"],
    );
  });
});

Deno.test("scanSource() applies include and exclude globs relative to the source root", async () => {
  await withTree(async ({ root }) => {
    for (
      const p of ["a.md", "b.txt", "docs/c.md", "docs/d.txt", "node_modules/e.md", "drafts/f.md"]
    ) {
      await write(join(root, p));
    }
    assert.deepEqual(
      brief(
        await scan(root, { documentRoots: [root] }, {
          include: ["*.md"],
          exclude: ["node_modules", "drafts/**"],
        }),
      ),
      ["a.md", "docs/c.md"],
    );
    assert.deepEqual(
      brief(
        await scan(root, { documentRoots: [root] }, { include: ["docs/*"], exclude: ["*.txt"] }),
      ),
      ["docs/c.md"],
    );
  });
});

Deno.test("scanSource() reports files over the size limit as skipped, with size and mtime", async () => {
  await withTree(async ({ root }) => {
    await write(join(root, "big.txt"), "x".repeat(1001));
    await write(join(root, "fits.txt"), "x".repeat(1000));
    const [big, fits] = await scan(root, { documentRoots: [root], maxFileSizeBytes: 1000 });
    assert.equal(big!.kind, "skipped");
    assert.match((big as { reason: string }).reason, /larger than the 1000 byte limit.*1001 bytes/);
    assert.equal(big!.size, 1001);
    assert.ok(typeof big!.mtimeMs === "number" && big!.mtimeMs > 0);
    assert.equal(fits!.kind, "file");
  });
});

Deno.test("scanSource() follows symlinks inside the roots once and skips those leading out", async () => {
  await withTree(async ({ base, root, outside }) => {
    await write(join(root, "real", "doc.md"), "real");
    await write(join(outside, "secret.txt"), "secret");
    await Deno.mkdir(join(outside, "dir"));
    await Deno.symlink(join(root, "real", "doc.md"), join(root, "alias-1.md"));
    await Deno.symlink(join(root, "real", "doc.md"), join(root, "alias-2.md"));
    await Deno.symlink(join(outside, "secret.txt"), join(root, "leak.txt"));
    await Deno.symlink(join(outside, "dir"), join(root, "leak-dir"));
    await Deno.symlink(join(root, "gone.txt"), join(root, "broken.txt"));
    await Deno.symlink(root, join(root, "real", "loop")); // a cycle back to the root
    const entries = await scan(root, { documentRoots: [root] });
    assert.deepEqual(brief(entries), [
      "alias-1.md",
      "broken.txt: failed: broken symbolic link: its target does not exist",
      "leak-dir: skipped: symbolic link leads outside DOCUMENT_ROOTS",
      "leak.txt: skipped: symbolic link leads outside DOCUMENT_ROOTS",
    ]);
    // One document for the file and its two links, at its real path.
    assert.equal(entries[0]!.uri, join(root, "real", "doc.md"));
    // Problems name the link itself: the target outside the roots is never disclosed.
    assert.equal(entries[3]!.uri, join(root, "leak.txt"));
    assert.ok(!JSON.stringify(entries).includes(outside));

    // A second root makes the same links legitimate.
    const wider = await scan(root, { documentRoots: [root, base] });
    assert.deepEqual(brief(wider), [
      "alias-1.md",
      "broken.txt: failed: broken symbolic link: its target does not exist",
      "leak.txt",
    ]);
    assert.equal(wider[2]!.uri, join(outside, "secret.txt"));
  });
});

Deno.test("scanSource() scans a source given through a symlink, under its real path", async () => {
  await withTree(async ({ base, root }) => {
    await write(join(root, "a.md"));
    await Deno.symlink(root, join(base, "link-to-root"));
    const [entry] = await scan(join(base, "link-to-root"), { documentRoots: [root] });
    assert.equal(entry!.uri, join(root, "a.md"));
  });
});

Deno.test("scanSource() skips a FIFO instead of blocking on it", async () => {
  await withTree(async ({ root }) => {
    const made = await new Deno.Command("mkfifo", { args: [join(root, "pipe")] }).output().catch(
      () => null,
    );
    if (made === null || !made.success) return; // no mkfifo here: nothing to test
    await write(join(root, "z.txt"));
    assert.deepEqual(brief(await scan(root, { documentRoots: [root] })), [
      "pipe: skipped: not a regular file (FIFO, socket or device)",
      "z.txt",
    ]);
  });
});

Deno.test("scanSource() reports a file that vanishes during the scan", async () => {
  await withTree(async ({ root }) => {
    await write(join(root, "a.txt"));
    await write(join(root, "b.txt"));
    const entries: ScanEntry[] = [];
    for await (
      const entry of scanSource({ path: root }, { documentRoots: [root], maxFileSizeBytes: 1000 })
    ) {
      entries.push(entry);
      // The directory was listed before a.txt was yielded; b.txt is stat-ed after.
      if (entry.path === "a.txt") await Deno.remove(join(root, "b.txt"));
    }
    assert.deepEqual(brief(entries), ["a.txt", "b.txt: failed: file disappeared during the scan"]);
  });
});

Deno.test("scanSource() reports a directory it cannot read", async () => {
  await withTree(async ({ root }) => {
    await write(join(root, "locked", "inner.txt"));
    await write(join(root, "open.txt"));
    await Deno.chmod(join(root, "locked"), 0o000);
    try {
      const entries = brief(await scan(root, { documentRoots: [root] }));
      let readable = true;
      try {
        for await (const _ of Deno.readDir(join(root, "locked"))) break;
      } catch {
        readable = false;
      }
      // Root reads directories whatever their mode says.
      assert.deepEqual(
        entries,
        readable
          ? ["locked/inner.txt", "open.txt"]
          : ["locked: failed: cannot read directory: permission denied", "open.txt"],
      );
    } finally {
      await Deno.chmod(join(root, "locked"), 0o755);
    }
  });
});

Deno.test("scanSource() throws for a source that is not allowed, bad options and an abort", async () => {
  await withTree(async ({ root, outside }) => {
    await write(join(root, "a.txt"));
    await assert.rejects(
      () => scan(outside, { documentRoots: [root] }),
      (err) => err instanceof AppError && err.code === "path_not_allowed",
    );
    await assert.rejects(
      () => scan(root, { documentRoots: [root], maxFileSizeBytes: -1 }),
      RangeError,
    );
    const controller = new AbortController();
    controller.abort(new Error("scan cancelled"));
    await assert.rejects(
      () => scan(root, { documentRoots: [root], signal: controller.signal }),
      /scan cancelled/,
    );
  });
});

/** Writes a file whose name is the bytes `name` (a shell makes it: Deno cannot). */
async function writeRawName(dir: string, name: number[], content: string): Promise<void> {
  const escaped = name.map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
  const out = await new Deno.Command("sh", {
    args: ["-c", `printf '%s' "$2" > "$(printf "$1")"`, "sh", escaped, content],
    cwd: dir,
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test("scanSource() lists names that are not valid UTF-8 under distinct uris that open", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "scan_source_raw_" }));
  try {
    await writeRawName(root, [0x61, 0xff, 0x62, 0x2e, 0x74, 0x78, 0x74], "first file");
    await writeRawName(root, [0x61, 0xfe, 0x62, 0x2e, 0x74, 0x78, 0x74], "second file");
    await Deno.writeTextFile(join(root, "a%FFb.txt"), "a valid name with a percent sign");
    const entries = [];
    for await (
      const e of scanSource({ path: root }, { documentRoots: [root], maxFileSizeBytes: 100 })
    ) {
      entries.push(e);
    }
    assert.deepEqual(entries.map((e) => [e.kind, e.uri, e.path]), [
      ["file", `${root}/a%25FFb.txt`, "a%FFb.txt"],
      ["file", `${root}/a%FEb.txt`, "a%FEb.txt"],
      ["file", `${root}/a%FFb.txt`, "a%FFb.txt"],
    ]);
    const texts = [];
    for (const e of entries) {
      const { file } = await openDocument(e.uri, [root]);
      texts.push(await new Response(file.readable).text());
    }
    assert.deepEqual(texts, ["a valid name with a percent sign", "second file", "first file"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("scanSource() without FFI skips names that are not valid UTF-8 with the reason, once each", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "scan_source_raw_" }));
  try {
    await writeRawName(root, [0x61, 0xff, 0x62, 0x2e, 0x74, 0x78, 0x74], "first file");
    await writeRawName(root, [0x61, 0xfe, 0x62, 0x2e, 0x74, 0x78, 0x74], "second file");
    await Deno.writeTextFile(join(root, "ok.txt"), "fine");
    const script = `
      import { scanSource } from ${
      JSON.stringify(new URL("./scan_source.ts", import.meta.url).href)
    };
      const out = [];
      for await (const e of scanSource({ path: Deno.args[0] }, {
        documentRoots: [Deno.args[0]], maxFileSizeBytes: 100,
      })) out.push([e.kind, e.path, e.reason ?? null]);
      console.log(JSON.stringify(out));`;
    const scriptPath = join(root, ".scan.ts");
    await Deno.writeTextFile(scriptPath, script);
    const out = await new Deno.Command(Deno.execPath(), {
      // No --allow-ffi: the libc fallback is out of reach.
      args: [
        "run",
        "--no-check",
        "--config",
        fileURLToPath(new URL("../../deno.json", import.meta.url)),
        "--allow-read",
        "--allow-env",
        scriptPath,
        root,
      ],
      stderr: "inherit",
    }).output();
    assert.ok(out.success);
    const entries = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(entries.length, 2, JSON.stringify(entries));
    assert.deepEqual(entries[1], ["file", "ok.txt", null]);
    assert.equal(entries[0][0], "skipped");
    assert.match(entries[0][2], /not valid UTF-8.*--allow-ffi/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
