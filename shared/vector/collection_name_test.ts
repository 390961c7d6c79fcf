import assert from "node:assert/strict";
import { assertCollectionName } from "./collection_name.ts";

Deno.test("assertCollectionName() accepts the names callers build", () => {
  const hex = crypto.randomUUID().replaceAll("-", "");
  for (const name of [`col_${hex}_1`, `col_${hex}`, "a", "a".repeat(51), `col_${hex}_12345678`]) {
    assert.equal(assertCollectionName(name), name);
  }
});

Deno.test("assertCollectionName() rejects anything that could escape an identifier", async (t) => {
  for (
    const bad of [
      "",
      "1col",
      "_col",
      "Col",
      "col-1",
      "col 1",
      'col"; drop table x; --',
      "col.x",
      "col/x",
      "a".repeat(52),
      "ß",
      undefined,
      42,
    ]
  ) {
    await t.step(JSON.stringify(bad) ?? "undefined", () => {
      assert.throws(() => assertCollectionName(bad, "alias"), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /^Invalid vector alias: expected .*, got /);
        return true;
      });
    });
  }
});
