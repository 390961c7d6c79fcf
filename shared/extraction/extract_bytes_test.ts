import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { extractBytes } from "./extract_bytes.ts";
import { ExtractionError } from "./extraction_error.ts";
import { makePdf } from "../../tests/fixtures/pdf.ts";
import { makeDocx } from "../../tests/fixtures/docx.ts";

const encode = (s: string) => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const rejectsWith = (status: "skipped" | "failed", pattern: RegExp) => (err: unknown) =>
  err instanceof ExtractionError && err.status === status && pattern.test(err.reason);

Deno.test("extractBytes() takes text formats as text, by extension", async () => {
  const cases: [string, string, string][] = [
    ["notes.txt", "Plain notes.\r\nSecond line.", "text/plain"],
    ["guide.md", "# Guide\n\nText.", "text/markdown"],
    ["spec.rst", "Title\n=====\n\nBody.", "text/x-rst"],
    ["main.ts", "export const x = 1;\n", "text/x-typescript"],
    ["data.json", '{"a": [1, 2]}', "application/json"],
    ["table.csv", "a,b\n1,2\n", "text/csv"],
    ["config.yaml", "key: value\n", "application/yaml"],
    ["Makefile", "all:\n\techo hi\n", "text/plain"],
  ];
  for (const [path, content, mimeType] of cases) {
    const bytes = encode(content);
    const doc = await extractBytes(bytes, { path });
    assert.equal(doc.mimeType, mimeType, path);
    assert.equal(doc.text, content.replace(/\r\n/g, "\n"), path);
    assert.equal(doc.encoding, "utf-8");
    assert.equal(doc.sizeBytes, bytes.length);
    assert.equal(doc.contentHash, sha256(bytes));
    assert.equal(doc.pages, undefined);
  }
});

Deno.test("extractBytes() turns HTML into readable text", async () => {
  const doc = await extractBytes(
    encode("<html><head><script>var s = 1;</script></head><body><h1>Bees</h1><p>Honey.</p></body>"),
    { path: "bees.html" },
  );
  assert.equal(doc.text, "# Bees\n\nHoney.");
  assert.equal(doc.mimeType, "text/html");
});

Deno.test("extractBytes() reads a PDF by its magic bytes, whatever its name", async () => {
  const bytes = await makePdf(["First page.", "Second page."]);
  for (const path of ["report.pdf", "report.bin", ""]) {
    const doc = await extractBytes(bytes, { path });
    assert.equal(doc.mimeType, "application/pdf");
    assert.equal(doc.text, "First page.\n\nSecond page.");
    assert.deepEqual(doc.pages, [{ page: 1, start: 0, end: 11 }, { page: 2, start: 13, end: 25 }]);
    assert.equal(doc.contentHash, sha256(bytes));
  }
});

Deno.test("extractBytes() reads a DOCX by extension or by its main part", async () => {
  const bytes = makeDocx([{ text: "Title", heading: 1 }, { text: "Body text." }]);
  for (const path of ["letter.docx", "letter.zip", ""]) {
    const doc = await extractBytes(bytes, { path });
    assert.equal(doc.text, "# Title\n\nBody text.");
    assert.equal(
      doc.mimeType,
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    );
  }
});

Deno.test("extractBytes() skips empty, blank and binary content with a reason", async () => {
  await assert.rejects(
    () => extractBytes(new Uint8Array(), { path: "a.txt" }),
    rejectsWith("skipped", /empty/),
  );
  await assert.rejects(
    () => extractBytes(encode(" \n\t\n"), { path: "a.txt" }),
    rejectsWith("skipped", /no text/),
  );
  await assert.rejects(
    () => extractBytes(encode("<script>only()</script><style>a{}</style>"), { path: "a.html" }),
    rejectsWith("skipped", /no text/),
  );
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  await assert.rejects(
    () => extractBytes(png, { path: "photo.txt" }),
    rejectsWith("skipped", /PNG image/),
  );
  await assert.rejects(
    () => extractBytes(new Uint8Array([1, 2, 3, 0, 5, 6]), { path: "blob.bin" }),
    rejectsWith("skipped", /binary content/),
  );
  // A ZIP that is not a Word document is just binary.
  const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]);
  await assert.rejects(
    () => extractBytes(zip, { path: "x.zip" }),
    rejectsWith("skipped", /ZIP archive/),
  );
  // A text file that happens to start like a magic number is still text.
  assert.equal(
    (await extractBytes(encode("ID3 tags are metadata."), { path: "id3.txt" })).text,
    "ID3 tags are metadata.",
  );
});

Deno.test("extractBytes() fails a corrupt PDF or DOCX with a reason", async () => {
  await assert.rejects(
    () => extractBytes(encode("%PDF-1.4 broken"), { path: "a.pdf" }),
    rejectsWith("failed", /corrupt PDF/),
  );
  await assert.rejects(
    () => extractBytes(encode("not a zip"), { path: "a.docx" }),
    rejectsWith("failed", /corrupt DOCX/),
  );
});

Deno.test("extractBytes() decodes Latin-1 and UTF-16 and reports the encoding", async () => {
  const latin1 = await extractBytes(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), { path: "a.txt" });
  assert.deepEqual([latin1.text, latin1.encoding], ["café", "latin1"]);
  const utf16 = await extractBytes(new Uint8Array([0xff, 0xfe, 0x68, 0, 0x69, 0]), {
    path: "a.txt",
  });
  assert.deepEqual([utf16.text, utf16.encoding], ["hi", "utf-16le"]);
});

Deno.test("extractBytes() decodes an HTML page in the legacy charset it declares", async () => {
  const head = encode('<html><head><meta charset="windows-1251"><title>x</title></head><body><h1>');
  // "Привет, мир" in windows-1251: not UTF-8, and garbled as Latin-1.
  const cyrillic = [0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0x2c, 0x20, 0xec, 0xe8, 0xf0];
  const bytes = new Uint8Array([...head, ...cyrillic, ...encode("</h1></body></html>")]);
  const doc = await extractBytes(bytes, { path: "page.html" });
  assert.equal(doc.text, "# Привет, мир");
  assert.equal(doc.encoding, "windows-1251");
  // A plain text file has no declaration: Latin-1.
  assert.equal((await extractBytes(bytes, { path: "page.txt" })).encoding, "latin1");
});
