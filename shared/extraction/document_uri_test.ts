import assert from "node:assert/strict";
import {
  decodeDocumentUri,
  encodeDocumentPath,
  encodeNameBytes,
  isValidUtf8,
} from "./document_uri.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("encodeNameBytes() writes % as %25 and each invalid byte as %XX, the rest as itself", () => {
  assert.equal(encodeNameBytes(bytes(0x61, 0xff, 0x62)), "a%FFb");
  assert.equal(encodeNameBytes(bytes(0x61, 0xfe, 0x62)), "a%FEb");
  assert.equal(encodeNameBytes(utf8("100%.txt")), "100%25.txt");
  assert.equal(encodeNameBytes(utf8("naïve 東京 😀")), "naïve 東京 😀");
  // Overlong, surrogate and truncated sequences are invalid byte by byte.
  assert.equal(encodeNameBytes(bytes(0xc0, 0xaf)), "%C0%AF");
  assert.equal(encodeNameBytes(bytes(0xed, 0xa0, 0x80)), "%ED%A0%80");
  assert.equal(encodeNameBytes(bytes(0xe6, 0x9d)), "%E6%9D");
  assert.equal(encodeDocumentPath("/docs/100%.txt"), "/docs/100%25.txt");
});

Deno.test("decodeDocumentUri() inverts the encoding, and distinct names never share a uri", () => {
  const names = [
    bytes(0x61, 0xff, 0x62),
    bytes(0x61, 0xfe, 0x62),
    utf8("a%FFb"),
    utf8("a\uFFFDb"),
    utf8("a%25b"),
    bytes(0x25, 0x32, 0x35, 0xff),
    bytes(0xe6, 0x9d, 0xb1, 0xe6),
  ];
  const uris = names.map((n) => `/docs/${encodeNameBytes(n)}`);
  assert.equal(new Set(uris).size, names.length, uris.join(" "));
  names.forEach((name, i) => {
    const decoded = decodeDocumentUri(uris[i]!);
    if (isValidUtf8(name)) {
      assert.deepEqual(decoded, { kind: "text", path: `/docs/${new TextDecoder().decode(name)}` });
    } else {
      assert.deepEqual(decoded, { kind: "raw", directory: "/docs", name });
    }
  });
  assert.deepEqual(decodeDocumentUri("/plain/path.txt"), { kind: "text", path: "/plain/path.txt" });
  assert.throws(() => decodeDocumentUri("/bad%FFdir/x.txt"), TypeError);
});
