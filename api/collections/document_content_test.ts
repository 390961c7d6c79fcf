import assert from "node:assert/strict";
import { textFromChunks } from "./document_content.ts";

Deno.test("textFromChunks() puts each chunk at its offsets, overlaps agree, gaps are spaces", () => {
  const original = "Alpha beta.\n\n  Gamma delta epsilon.";
  const chunk = (ordinal: number, start: number, end: number) => ({
    ordinal,
    text: original.slice(start, end),
    start_offset: start,
    end_offset: end,
    page: null,
  });
  const chunks = [chunk(0, 0, 11), chunk(1, 15, 26), chunk(2, 21, 35)];
  const text = textFromChunks(chunks);
  assert.equal(text, "Alpha beta.    Gamma delta epsilon.");
  for (const c of chunks) assert.equal(text.slice(c.start_offset, c.end_offset), c.text);
  assert.equal(textFromChunks([]), "");
});
