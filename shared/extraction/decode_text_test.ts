import assert from "node:assert/strict";
import { decodeText } from "./decode_text.ts";
import { ExtractionError } from "./extraction_error.ts";

function utf16(text: string, littleEndian: boolean, bom = true): Uint8Array {
  const bytes = new Uint8Array((bom ? 2 : 0) + text.length * 2);
  const view = new DataView(bytes.buffer);
  if (bom) view.setUint16(0, 0xfeff, littleEndian);
  for (let i = 0; i < text.length; i++) {
    view.setUint16((bom ? 2 : 0) + i * 2, text.charCodeAt(i), littleEndian);
  }
  return bytes;
}

Deno.test("decodeText() reads UTF-8, with or without a byte order mark", () => {
  const text = "Grüße, 世界! 🌋";
  assert.deepEqual(decodeText(new TextEncoder().encode(text)), { text, encoding: "utf-8" });
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
  assert.deepEqual(decodeText(withBom), { text, encoding: "utf-8" });
});

Deno.test("decodeText() reads UTF-16 little and big endian by their byte order mark", () => {
  const text = "Ångström café — 火山 🐝";
  assert.deepEqual(decodeText(utf16(text, true)), { text, encoding: "utf-16le" });
  assert.deepEqual(decodeText(utf16(text, false)), { text, encoding: "utf-16be" });
});

Deno.test("decodeText() falls back to Latin-1 (windows-1252) for invalid UTF-8", () => {
  // "café naïve" in Latin-1, and 0x93/0x94 curly quotes from windows-1252.
  const bytes = new Uint8Array([
    0x63,
    0x61,
    0x66,
    0xe9,
    0x20,
    0x6e,
    0x61,
    0xef,
    0x76,
    0x65,
    0x20,
    0x93,
    0x71,
    0x94,
  ]);
  assert.deepEqual(decodeText(bytes), { text: "café naïve “q”", encoding: "latin1" });
});

Deno.test("decodeText() skips binary content: NUL bytes, control characters, BOM-less UTF-16", () => {
  const cases = [
    new Uint8Array([0x68, 0x69, 0x00, 0x68, 0x69]),
    new Uint8Array(Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 0x01 : 0x41))),
    utf16("hello world", true, false),
    // UTF-32 starts with FF FE too; decoded as UTF-16 it is full of NULs.
    new Uint8Array([0xff, 0xfe, 0, 0, 0x68, 0, 0, 0, 0x69, 0, 0, 0]),
  ];
  for (const bytes of cases) {
    assert.throws(
      () => decodeText(bytes),
      (err) =>
        err instanceof ExtractionError && err.status === "skipped" && /binary/.test(err.reason),
    );
  }
});

Deno.test("decodeText() accepts tabs, form feeds and terminal escapes as text", () => {
  const text = "col1\tcol2\r\n\fpage\n\u001b[31mred\u001b[0m\n";
  assert.equal(decodeText(new TextEncoder().encode(text)).text, text);
});
