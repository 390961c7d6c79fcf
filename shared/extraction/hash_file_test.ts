import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ExtractionError } from "./extraction_error.ts";
import { hashFile } from "./hash_file.ts";

Deno.test("hashFile() streams a SHA-256 of the file's bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hash_file_test_" });
  try {
    const bytes = new Uint8Array(1_000_003).map((_, i) => (i * 31) & 0xff);
    const path = join(dir, "data.bin");
    await Deno.writeFile(path, bytes);
    assert.equal(
      await hashFile(path, { documentRoots: [dir] }),
      createHash("sha256").update(bytes).digest("hex"),
    );
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    assert.equal(
      await hashFile(join(dir, "empty"), { documentRoots: [dir] }),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    await assert.rejects(
      () => hashFile(join(dir, "missing"), { documentRoots: [dir] }),
      (err: unknown) =>
        err instanceof ExtractionError && err.status === "failed" && /not found/.test(err.reason),
    );
    await assert.rejects(
      () => hashFile(dir, { documentRoots: [dir] }),
      (err: unknown) =>
        err instanceof ExtractionError && err.status === "skipped" &&
        err.reason === "not a regular file",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
