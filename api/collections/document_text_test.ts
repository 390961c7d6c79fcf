import assert from "node:assert/strict";
import { mergeChunks } from "./document_text.ts";

/** Chunks of `text` as the chunker makes them: `text.slice(start, end)`. */
const chunksOf = (text: string, spans: [number, number][]) =>
  spans.map(([start_offset, end_offset]) => ({
    text: text.slice(start_offset, end_offset),
    start_offset,
    end_offset,
  }));

Deno.test("mergeChunks rebuilds overlapping chunks once, in order", () => {
  const text = "alpha beta gamma delta epsilon";
  // "alpha beta gamma" [0,16), "gamma delta" [11,22), "delta epsilon" [17,30)
  const merged = mergeChunks(chunksOf(text, [[0, 16], [11, 22], [17, 30]]), 1000);
  assert.deepEqual(merged, { text, truncated: false });
});

Deno.test("mergeChunks writes a gap as one space, a longer one as a newline, and skips contained chunks", () => {
  const text = "one two\n\nthree four";
  const merged = mergeChunks(chunksOf(text, [[0, 3], [4, 7], [4, 7], [9, 14], [15, 19]]), 1000);
  assert.equal(merged.text, "one two\nthree four");
});

Deno.test("mergeChunks stops at maxChars and says so", () => {
  const text = "abcdef ghijkl";
  assert.deepEqual(mergeChunks(chunksOf(text, [[0, 6], [7, 13]]), 8), {
    text: "abcdef g",
    truncated: true,
  });
  assert.deepEqual(mergeChunks([], 8), { text: "", truncated: false });
});
