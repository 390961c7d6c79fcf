import assert from "node:assert/strict";
import { sanitizeText } from "./sanitize_text.ts";

Deno.test("sanitizeText() normalises line ends and removes what storage and chunking cannot take", () => {
  assert.equal(sanitizeText("a\r\nb\rc\n"), "a\nb\nc\n");
  assert.equal(sanitizeText("nul\u0000byte"), "nulbyte");
  assert.equal(sanitizeText("\u001b[1;31merror\u001b[0m: x"), "error: x");
  assert.equal(sanitizeText("bell\u0007 vt\u000b del\u007f c1\u0085"), "bell  vt  del  c1 ");
  assert.equal(sanitizeText("tab\tand\fform feed"), "tab\tand\fform feed");
  assert.equal(sanitizeText("lone \ud800 surrogate"), "lone \ufffd surrogate");
  const clean = "Grüße 🌋\n\nparagraph";
  assert.equal(sanitizeText(clean), clean);
  assert.equal(
    sanitizeText(sanitizeText("x\r\n\u0000\u001b[0m\ud800")),
    sanitizeText("x\r\n\u0000\u001b[0m\ud800"),
  );
});
