import assert from "node:assert/strict";
import { COLLECTION_NAME_PATTERN, generationCollectionName, pointId } from "@semantik/shared";
import { chunkPointId, documentIdFor } from "./ids.ts";

const C = "5d0c5c2e-9a41-4f6b-9a2b-1f0e8b7c6d5a";

Deno.test("documentIdFor() is stable per (collection, uri) and differs otherwise", () => {
  const a = documentIdFor(C, "/docs/a.txt");
  assert.equal(documentIdFor(C, "/docs/a.txt"), a);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(documentIdFor(C, "/docs/b.txt"), a);
  assert.notEqual(documentIdFor(crypto.randomUUID(), "/docs/a.txt"), a);
  // Not the id of any of the document's points.
  assert.notEqual(pointId(C, { uri: "/docs/a.txt", ordinal: 0 }), a);
  assert.throws(() => documentIdFor(C, ""), TypeError);
});

Deno.test("chunkPointId() is pointId() in generation 1 and differs in later ones", () => {
  assert.equal(
    chunkPointId(C, { generation: 1, uri: "/d/x.md", ordinal: 3 }),
    pointId(C, { uri: "/d/x.md", ordinal: 3 }),
  );
  const g2 = chunkPointId(C, { generation: 2, uri: "/d/x.md", ordinal: 3 });
  assert.notEqual(g2, pointId(C, { uri: "/d/x.md", ordinal: 3 }));
  assert.equal(chunkPointId(C, { generation: 2, uri: "/d/x.md", ordinal: 3 }), g2);
  assert.notEqual(chunkPointId(C, { generation: 3, uri: "/d/x.md", ordinal: 3 }), g2);
  assert.throws(() => chunkPointId(C, { generation: 0, uri: "/d/x.md", ordinal: 0 }), RangeError);
  assert.throws(() => chunkPointId(C, { generation: 1.5, uri: "/d/x.md", ordinal: 0 }), RangeError);
});

Deno.test("generationCollectionName() is a valid vector collection name behind the alias", () => {
  const name = generationCollectionName(C, 1);
  assert.equal(name, `col_${C.replaceAll("-", "")}_g1`);
  assert.match(name, COLLECTION_NAME_PATTERN);
  assert.match(generationCollectionName(C, 123456), COLLECTION_NAME_PATTERN);
  assert.throws(() => generationCollectionName(C, 0), RangeError);
});
