import assert from "node:assert/strict";
import fc from "fast-check";
import {
  documentSparseVector,
  highlightSpans,
  queryWords,
  termIndex,
  terms,
  tokenize,
  tsQueryText,
} from "./lexical.ts";

Deno.test("terms: identifiers split at underscores and humps and kept whole, lower case", () => {
  assert.deepEqual(terms("FORCE_NOT_NULL"), ["force", "not", "null", "forcenotnull"]);
  assert.deepEqual(terms("pg_notify()"), ["pg", "notify", "pgnotify"]);
  assert.deepEqual(terms("getUserName HTTPServer"), [
    "get",
    "user",
    "name",
    "getusername",
    "http",
    "server",
    "httpserver",
  ]);
  assert.deepEqual(terms("SKIP LOCKED, x-request-id; __init__ Ünïcode"), [
    "skip",
    "locked",
    "x",
    "request",
    "id",
    "init",
    "ünïcode",
  ]);
  assert.deepEqual(terms("a".repeat(65) + " ok"), ["ok"]);
});

Deno.test("terms() are tokenize()'s terms, whatever the letters (its one-part words skip the split)", () => {
  // Letters whose case mapping is odd: U+2102 is upper case without a lower case, U+01C5 title
  // case, U+0130 lowers to two characters, U+0345 a mark that upper-cases to a letter.
  const alphabet = ["a", "Z", "_", "1", " ", "-", "é", "\u2102", "\u01c5", "\u0130", "\u0345", "ß"];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
      const text = chars.join("");
      assert.deepEqual(terms(text), tokenize(text).map((t) => t.term));
    }),
    { numRuns: 2000 },
  );
  assert.deepEqual(terms("a\u2102b"), ["a", "\u2102b", "a\u2102b".toLowerCase()]);
});

Deno.test("queries: stopwords dropped unless alone, identifiers as whole or phrase", () => {
  assert.deepEqual(queryWords("How do I use FORCE_NOT_NULL?"), [
    { whole: "use", parts: [] },
    { whole: "forcenotnull", parts: ["force", "not", "null"] },
  ]);
  assert.deepEqual(queryWords("the"), [{ whole: "the", parts: [] }]);
  assert.equal(
    tsQueryText("pg_notify SKIP locked skip"),
    "('pgnotify' | 'pg' <-> 'notify') | 'skip' | 'locked'",
  );
  assert.equal(tsQueryText("!!! ???"), undefined);
});

Deno.test("highlights: spans of the query's words in the text, merged", () => {
  const text = "Use FORCE_NOT_NULL; not null here. Call pg_notify.";
  const marked = (q: string) => highlightSpans(text, q).map(([a, b]) => text.slice(a, b));
  assert.deepEqual(marked("FORCE_NOT_NULL"), ["FORCE_NOT_NULL"]);
  assert.deepEqual(marked("null"), ["NULL", "null"]);
  assert.deepEqual(marked("notify call"), ["Call", "notify"]);
  assert.deepEqual(marked("the kubernetes"), []);
});

Deno.test("sparse vectors: BM25 term weights by hashed term, indices sorted and unique", () => {
  const v = documentSparseVector("alpha beta alpha");
  assert.deepEqual(v.indices, [termIndex("alpha"), termIndex("beta")].sort((a, b) => a - b));
  const k1 = 1.2, b = 0.75, norm = k1 * (1 - b + b * 3 / 200);
  const weight = (tf: number) => tf * (k1 + 1) / (tf + norm);
  assert.ok(Math.abs(v.values[v.indices.indexOf(termIndex("alpha"))]! - weight(2)) < 1e-12);
  assert.ok(Math.abs(v.values[v.indices.indexOf(termIndex("beta"))]! - weight(1)) < 1e-12);
  // FNV-1a 32-bit of "a" is 0xe40c292c.
  assert.equal(termIndex("a"), 0xe40c292c);
});
