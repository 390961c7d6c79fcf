import assert from "node:assert/strict";
import { BINARY_SAMPLE_SIZE, looksBinary } from "./looks_binary.ts";

Deno.test("looksBinary() finds NUL or many control characters at the start of the content", () => {
  const encode = (s: string) => new TextEncoder().encode(s);
  assert.equal(looksBinary(encode("Plain text, Grüße, 火山 🌋\r\n\tindented\f")), false);
  assert.equal(looksBinary(encode("\u001b[31mred\u001b[0m log line\n")), false);
  assert.equal(looksBinary(new Uint8Array()), false);
  assert.equal(looksBinary(encode("text\u0000more")), true);
  assert.equal(looksBinary("decoded\u0000string"), true);
  // One control character in ten is still text; more than that is not.
  assert.equal(looksBinary(encode("\u0001abcdefghi")), false);
  assert.equal(looksBinary(encode("\u0001\u0002abcdefgh")), true);
  // Only the sample counts: a NUL after it does not make text binary.
  const late = new Uint8Array(BINARY_SAMPLE_SIZE + 10).fill(0x61);
  late[BINARY_SAMPLE_SIZE + 5] = 0;
  assert.equal(looksBinary(late), false);
});
