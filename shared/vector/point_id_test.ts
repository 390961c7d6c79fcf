import assert from "node:assert/strict";
import { isUuid } from "../db/uuid.ts";
import { POINT_ID_NAMESPACE, pointId, uuidV5 } from "./point_id.ts";

const DNS_NAMESPACE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
const URL_NAMESPACE = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";

Deno.test("uuidV5() matches the known RFC 4122 / Python uuid5 vectors", () => {
  assert.equal(uuidV5("www.example.com", DNS_NAMESPACE), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
  assert.equal(uuidV5("python.org", DNS_NAMESPACE), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  assert.equal(uuidV5("http://python.org/", URL_NAMESPACE), "4c565f0d-3f5a-5890-b41b-20cf47701c5e");
});

Deno.test("uuidV5() accepts an upper-case namespace and rejects a malformed one", () => {
  assert.equal(
    uuidV5("www.example.com", DNS_NAMESPACE.toUpperCase()),
    "2ed6657d-e927-568b-95e1-2665a8aea6a2",
  );
  assert.throws(() => uuidV5("x", "not-a-uuid"), TypeError);
});

Deno.test("pointId() is a deterministic version 5 UUID of (collection, uri, ordinal)", () => {
  const a = pointId("c1", { uri: "/docs/a.txt", ordinal: 0 });
  assert.equal(a, pointId("c1", { uri: "/docs/a.txt", ordinal: 0 }));
  assert.ok(isUuid(a));
  assert.equal(a[14], "5");
  assert.ok("89ab".includes(a[19]!));
  assert.equal(a, uuidV5(JSON.stringify(["c1", "/docs/a.txt", 0]), POINT_ID_NAMESPACE));
  // Computed independently (Python uuid.uuid5); pins the namespace and the encoding, since
  // changing either would re-id every stored point.
  assert.equal(a, "484b6bc7-62d6-5b57-8512-cd43aa7bee2b");
});

Deno.test("pointId() differs when any part differs, including ambiguous joins", () => {
  const ids = new Set([
    pointId("c1", { uri: "/docs/a.txt", ordinal: 0 }),
    pointId("c1", { uri: "/docs/a.txt", ordinal: 1 }),
    pointId("c2", { uri: "/docs/a.txt", ordinal: 0 }),
    pointId("c1", { uri: "/docs/b.txt", ordinal: 0 }),
    pointId("c1\n/docs", { uri: "a.txt", ordinal: 0 }),
    pointId("c1", { uri: "\n/docs\na.txt", ordinal: 0 }),
  ]);
  assert.equal(ids.size, 6);
});

Deno.test("pointId() rejects empty parts and bad ordinals", async (t) => {
  for (
    const [c, u, o, kind] of [
      ["", "/a", 0, TypeError],
      ["c", "", 0, TypeError],
      ["c", "/a", -1, RangeError],
      ["c", "/a", 1.5, RangeError],
      ["c", "/a", Number.NaN, RangeError],
    ] as const
  ) {
    await t.step(`${JSON.stringify([c, u, o])}`, () => {
      assert.throws(() => pointId(c, { uri: u, ordinal: o }), kind);
    });
  }
});
