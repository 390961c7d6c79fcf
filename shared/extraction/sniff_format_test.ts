import assert from "node:assert/strict";
import { sniffFormat } from "./sniff_format.ts";
import { mimeTypeForPath } from "./mime_type_for_path.ts";

Deno.test("sniffFormat() names formats by their magic numbers", () => {
  const encode = (s: string) => new TextEncoder().encode(s);
  assert.equal(sniffFormat(encode("%PDF-1.7\n..."))?.mimeType, "application/pdf");
  // Readers accept junk before the PDF header.
  assert.equal(sniffFormat(encode("junk\n%PDF-1.4"))?.mimeType, "application/pdf");
  assert.equal(sniffFormat(new Uint8Array([0x50, 0x4b, 3, 4, 0]))?.label, "ZIP archive");
  assert.equal(sniffFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10]))?.label, "PNG image");
  assert.equal(sniffFormat(encode("SQLite format 3\0..."))?.label, "SQLite database");
  assert.equal(sniffFormat(encode("plain words")), undefined);
  assert.equal(sniffFormat(new Uint8Array()), undefined);
});

Deno.test("mimeTypeForPath() maps extensions case-insensitively", () => {
  assert.equal(mimeTypeForPath("/a/b/README.MD"), "text/markdown");
  assert.equal(mimeTypeForPath("notes.rst"), "text/x-rst");
  assert.equal(mimeTypeForPath("page.htm"), "text/html");
  assert.equal(mimeTypeForPath("x.tar.gz"), undefined);
  assert.equal(mimeTypeForPath("Makefile"), undefined);
  assert.equal(mimeTypeForPath("main.py"), "text/x-python");
  assert.equal(
    mimeTypeForPath("letter.docx"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  );
});
