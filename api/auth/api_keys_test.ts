import assert from "node:assert/strict";
import { base62, keyAllows } from "./api_keys.ts";

Deno.test("base62 writes every value of n bytes in the same number of digits", () => {
  assert.equal(base62(new Uint8Array(32)), "0".repeat(43));
  assert.equal(base62(new Uint8Array(32).fill(255)).length, 43);
  assert.equal(base62(new Uint8Array([0, 61])), "00z");
  assert.equal(base62(new Uint8Array([1, 0])), "048"); // 256 = 4 * 62 + 8
});

Deno.test("keyAllows: read covers reads and search, write the rest, account changes neither", () => {
  const cases: [string, string, boolean, boolean][] = [
    // method, path, read allows, write allows
    ["GET", "/api/v2/collections", true, true],
    ["HEAD", "/api/v2/collections", true, true],
    ["POST", "/api/v2/search", true, true],
    ["POST", "/api/v2/collections", false, true],
    ["POST", "/api/v2/collections/x/sync", false, true],
    ["PATCH", "/api/v2/collections/x", false, true],
    ["DELETE", "/api/v2/operations/x", false, true],
    ["POST", "/api/v2/api-keys", false, true],
    ["DELETE", "/api/v2/api-keys/x", false, true],
    ["GET", "/api/auth/me", true, true],
    ["PATCH", "/api/auth/me", false, false],
    ["DELETE", "/api/auth/me", false, false],
  ];
  for (const [method, path, read, write] of cases) {
    assert.equal(keyAllows(["read"], { method, path }), read, `read ${method} ${path}`);
    assert.equal(keyAllows(["write"], { method, path }), write, `write ${method} ${path}`);
    assert.equal(keyAllows(["read", "write"], { method, path }), write, `both ${method} ${path}`);
  }
});
