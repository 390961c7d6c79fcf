import assert from "node:assert/strict";
import { declaredCharset } from "./declared_charset.ts";

Deno.test("declaredCharset() reads <meta charset> and http-equiv declarations", () => {
  const encode = (s: string) => new TextEncoder().encode(s);
  assert.equal(declaredCharset(encode('<meta charset="Shift_JIS">')), "shift_jis");
  assert.equal(
    declaredCharset(
      encode('<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'),
    ),
    "windows-1251",
  );
  assert.equal(declaredCharset(encode("<meta charset=latin1>")), "windows-1252");
  assert.equal(declaredCharset(encode('<meta charset="no-such-charset">')), undefined);
  assert.equal(declaredCharset(encode("<p>no declaration</p>")), undefined);
  assert.equal(declaredCharset(encode(" ".repeat(1100) + '<meta charset="gbk">')), undefined);
});
