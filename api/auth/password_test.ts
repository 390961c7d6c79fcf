import assert from "node:assert/strict";
import { hashPassword, needsRehash, verifyPassword } from "./password.ts";

Deno.test("hashPassword() salts: the same password hashes differently and verifies", async () => {
  const a = await hashPassword("correct horse battery", { cost: 14 });
  const b = await hashPassword("correct horse battery", { cost: 14 });
  assert.notEqual(a, b);
  assert.match(a, /^scrypt\$16384\$8\$1\$/);
  assert.ok(!a.includes("correct horse"));
  assert.equal(await verifyPassword("correct horse battery", a), true);
  assert.equal(await verifyPassword("correct horse batterz", a), false);
});

Deno.test("verifyPassword() refuses malformed stored hashes", async () => {
  assert.equal(await verifyPassword("x", "plain"), false);
  assert.equal(await verifyPassword("x", "scrypt$0$8$1$AAAA$BBBB"), false);
  assert.equal(await verifyPassword("x", "bcrypt$1$2$3$4$5"), false);
});

Deno.test("hashPassword() uses scrypt N = 2^17 by default (above Node's default maxmem)", async () => {
  const h = await hashPassword("correct horse battery");
  assert.match(h, /^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  assert.equal(await verifyPassword("correct horse battery", h), true);
  assert.equal(needsRehash(h), false);
});

Deno.test("needsRehash() flags hashes weaker than the cost asked for, never stronger ones", async () => {
  const old = "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A".repeat(43) + "=";
  assert.equal(needsRehash(old), true);
  assert.equal(needsRehash(old, { cost: 14 }), false);
  assert.equal(needsRehash(old.replace("$8$1$", "$4$1$"), { cost: 14 }), true);
  assert.equal(needsRehash("plain"), true);
  assert.equal(needsRehash(await hashPassword("x-password", { cost: 15 }), { cost: 14 }), false);
  assert.throws(() => needsRehash(old, { cost: 13 }), RangeError);
});

Deno.test("verifyPassword() refuses stored parameters scrypt cannot or should not run", async () => {
  for (const n of ["3", "2097152", "-2"]) {
    assert.equal(await verifyPassword("x", `scrypt$${n}$8$1$AAAA$BBBB`), false, n);
  }
});
