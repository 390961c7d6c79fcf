import assert from "node:assert/strict";
import { extractPdf } from "./extract_pdf.ts";
import { ExtractionError } from "./extraction_error.ts";
import { makePdf, makeTextlessPdf } from "../../tests/fixtures/pdf.ts";

Deno.test("extractPdf() gives each page's text and where it lies", async () => {
  const bytes = await makePdf([
    "Page one is about volcanoes and magma.",
    "",
    "Page three is about honeybees.\nA second line.",
  ]);
  const { text, pages } = await extractPdf(bytes);
  assert.deepEqual(pages.map((p) => p.page), [1, 2, 3]);
  assert.equal(
    text.slice(pages[0]!.start, pages[0]!.end),
    "Page one is about volcanoes and magma.",
  );
  assert.equal(pages[1]!.start, pages[1]!.end);
  assert.equal(
    text.slice(pages[2]!.start, pages[2]!.end),
    "Page three is about honeybees.\nA second line.",
  );
  assert.equal(text, text.slice(0, pages[2]!.end));
});

Deno.test("extractPdf() leaves the caller's bytes usable", async () => {
  const bytes = await makePdf(["Reusable bytes."]);
  const copy = bytes.slice();
  await extractPdf(bytes);
  assert.deepEqual(bytes, copy);
});

Deno.test("extractPdf() gives empty text for a page without text", async () => {
  const { text, pages } = await extractPdf(await makeTextlessPdf());
  assert.equal(text, "");
  assert.deepEqual(pages, [{ page: 1, start: 0, end: 0 }]);
});

Deno.test("extractPdf() fails a corrupt or truncated PDF with a reason", async () => {
  const good = await makePdf(["Some text that will be cut off."]);
  for (
    const bytes of [new TextEncoder().encode("%PDF-1.7\nnot a pdf at all"), good.subarray(0, 200)]
  ) {
    await assert.rejects(
      () => extractPdf(bytes),
      (err) => err instanceof ExtractionError && err.status === "failed" && /PDF/.test(err.reason),
    );
  }
});

Deno.test("extractPdf() throws the signal's reason when aborted", async () => {
  const controller = new AbortController();
  controller.abort(new Error("cancelled by test"));
  await assert.rejects(
    () => extractPdf(new Uint8Array(), { signal: controller.signal }),
    /cancelled by test/,
  );
});

Deno.test("extractPdf() fails a damaged page without an unhandled rejection from pdf.js", async () => {
  // Found by the fuzz test: the page tree has no /Count and page 2's /Contents array never
  // closes. pdf.js rejects getPage and, unawaited inside itself, another promise; unguarded,
  // that one ends the process (here: the test file fails with an uncaught error).
  const bytes = await makePdf(["A page about volcanoes.", "A second page about honeybees."]);
  const latin1 = new TextDecoder("latin1").decode(bytes);
  const count = latin1.indexOf("/Count 2");
  const second = latin1.indexOf("/Contents [", latin1.indexOf("/Contents [") + 1);
  const close = latin1.indexOf("]", second);
  assert.ok(count > 0 && second > 0 && close > second);
  bytes[count + 1] = 0x58; // "/Xount"
  bytes[close] = 0x20;
  await assert.rejects(
    () => extractPdf(bytes),
    (err) =>
      err instanceof ExtractionError && err.status === "failed" && /corrupt PDF/.test(err.reason),
  );
  // Let pdf.js's stray rejection surface while this test still runs.
  await new Promise((resolve) => setTimeout(resolve, 50));
});
