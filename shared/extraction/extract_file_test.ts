import assert from "node:assert/strict";
import { join } from "node:path";
import { extractFile } from "./extract_file.ts";
import { hashFile } from "./hash_file.ts";
import { ExtractionError } from "./extraction_error.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "extract_file_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const rejectsWith = (status: "skipped" | "failed", pattern: RegExp) => (err: unknown) =>
  err instanceof ExtractionError && err.status === status && pattern.test(err.reason);

Deno.test("extractFile() reads a file once and hashes the same bytes as hashFile()", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "notes.md");
    const content = "# Notes\n\n" + "Bees and volcanoes. ".repeat(50_000);
    await Deno.writeTextFile(path, content);
    const doc = await extractFile(path, { documentRoots: [dir] });
    assert.equal(doc.text, content);
    assert.equal(doc.mimeType, "text/markdown");
    assert.equal(doc.sizeBytes, new TextEncoder().encode(content).length);
    assert.equal(doc.contentHash, await hashFile(path, { documentRoots: [dir] }));
    assert.match(doc.contentHash, /^[0-9a-f]{64}$/);
  });
});

Deno.test("extractFile() skips a file over maxBytes without reading it", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "big.txt");
    await Deno.writeTextFile(path, "x".repeat(1001));
    await assert.rejects(
      () => extractFile(path, { documentRoots: [dir], maxBytes: 1000 }),
      rejectsWith("skipped", /larger than the 1000 byte limit.*1001 bytes/),
    );
    assert.equal(
      (await extractFile(path, { documentRoots: [dir], maxBytes: 1001 })).text.length,
      1001,
    );
    await assert.rejects(
      () => extractFile(path, { documentRoots: [dir], maxBytes: -1 }),
      RangeError,
    );
  });
});

Deno.test("extractFile() fails a missing file and skips what is not a regular file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => extractFile(join(dir, "missing.txt"), { documentRoots: [dir] }),
      rejectsWith("failed", /cannot read file: file not found/),
    );
    await assert.rejects(
      () => extractFile(dir, { documentRoots: [dir] }),
      rejectsWith("skipped", /not a regular file/),
    );
  });
});

Deno.test("extractFile() fails a file it has no permission to read", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "secret.txt");
    await Deno.writeTextFile(path, "secret");
    await Deno.chmod(path, 0o000);
    let readable = true;
    try {
      (await Deno.open(path)).close();
    } catch {
      readable = false;
    }
    if (readable) {
      // Root (and CAP_DAC_OVERRIDE) reads whatever the mode says.
      assert.equal((await extractFile(path, { documentRoots: [dir] })).text, "secret");
    } else {
      await assert.rejects(
        () => extractFile(path, { documentRoots: [dir] }),
        rejectsWith("failed", /permission denied/),
      );
    }
  });
});

Deno.test("extractFile() throws the signal's reason when aborted", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.txt");
    await Deno.writeTextFile(path, "text");
    const controller = new AbortController();
    controller.abort(new Error("operation cancelled"));
    await assert.rejects(
      () => extractFile(path, { documentRoots: [dir], signal: controller.signal }),
      /operation cancelled/,
    );
  });
});

Deno.test("extractFile() reads what a file grew by after it was measured, up to maxBytes", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "log.txt");
    const start = "first line\n";
    // Grows by more than one read piece (256 KiB) between the measurement and the read.
    const more = "appended while it was being opened\n".repeat(10_000);
    const growing = (extra: string) => ({
      lstat: (p: string) => Deno.lstat(p),
      open: (p: string, o: Deno.OpenOptions) => Deno.open(p, o),
      async realPath(p: string) {
        await Deno.writeTextFile(path, extra, { append: true });
        return await Deno.realPath(p);
      },
      stat: (p: string) => Deno.stat(p),
    });
    await Deno.writeTextFile(path, start);
    const doc = await extractFile(path, { documentRoots: [dir], fs: growing(more) });
    assert.equal(doc.text, start + more);
    await Deno.writeTextFile(path, start);
    await assert.rejects(
      () => extractFile(path, { documentRoots: [dir], fs: growing(more), maxBytes: 100_000 }),
      rejectsWith("skipped", /larger than the 100000 byte limit/),
    );
  });
});
