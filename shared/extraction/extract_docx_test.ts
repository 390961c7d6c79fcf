import assert from "node:assert/strict";
import { strToU8, zipSync } from "fflate";
import { extractDocx, isDocxArchive } from "./extract_docx.ts";
import { ExtractionError } from "./extraction_error.ts";
import { makeDocx, makeLyingDocx, makeZipBombDocx } from "../../tests/fixtures/docx.ts";

const failsWith = (pattern: RegExp) => (err: unknown) =>
  err instanceof ExtractionError && err.status === "failed" && pattern.test(err.reason);

Deno.test("extractDocx() gives paragraphs, Word headings as # lines, and tables", async () => {
  const bytes = makeDocx(
    [
      { text: "Honeybees", heading: 1 },
      { text: "Bees make honey & wax from nectar." },
      { text: "The waggle dance", heading: 2 },
      { text: "Foragers dance to show <where> flowers are." },
    ],
    [[["Caste", "Number"], ["Workers", "40000"]]],
  );
  assert.equal(
    await extractDocx(bytes),
    [
      "# Honeybees",
      "Bees make honey & wax from nectar.",
      "## The waggle dance",
      "Foragers dance to show <where> flowers are.",
      "Caste | Number\nWorkers | 40000",
    ].join("\n\n"),
  );
  assert.ok(isDocxArchive(bytes));
});

Deno.test("extractDocx() refuses a zip bomb from its declared sizes, before inflating it", async () => {
  await assert.rejects(
    () => extractDocx(makeZipBombDocx()),
    failsWith(/refused as a zip bomb: word\/document.xml would inflate/),
  );
  // The total limit applies too, whatever the ratio.
  const big = makeDocx(Array.from({ length: 300 }, (_, i) => ({ text: `Paragraph ${i}.` })));
  await assert.rejects(
    () => extractDocx(big, { maxInflatedBytes: 4096 }),
    failsWith(/over the 4096 byte limit/),
  );
});

Deno.test("extractDocx() stops inflating a part that is larger than its declared size", async () => {
  await assert.rejects(
    () => extractDocx(makeLyingDocx()),
    failsWith(/more than its declared 100 bytes/),
  );
});

Deno.test("extractDocx() fails what is not a Word document", async () => {
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("PK\u0003\u0004 not really a zip"), /not a ZIP archive/],
    [zipSync({ "notes.txt": strToU8("hello") }), /no word\/document.xml/],
    [makeDocx([{ text: "cut short" }]).subarray(0, 300), /corrupt DOCX/],
    [new Uint8Array(), /not a ZIP archive/],
  ];
  for (const [bytes, reason] of cases) {
    await assert.rejects(() => extractDocx(bytes), failsWith(reason));
    assert.equal(isDocxArchive(bytes), false);
  }
  // A package whose main part is not XML.
  const broken = zipSync({
    "_rels/.rels": strToU8("<Relationships/>"),
    "word/document.xml": strToU8("this is not xml <<<"),
  });
  await assert.rejects(() => extractDocx(broken), failsWith(/corrupt DOCX/));
});

Deno.test("extractDocx() rejects bad limits with RangeError", async () => {
  const bytes = makeDocx([{ text: "x" }]);
  await assert.rejects(() => extractDocx(bytes, { maxInflatedBytes: 0 }), RangeError);
  await assert.rejects(() => extractDocx(bytes, { maxCompressionRatio: 0.5 }), RangeError);
});
