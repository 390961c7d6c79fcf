import assert from "node:assert/strict";
import { escapeLike, matchesUriPrefix, normalizeUriPrefix, uriAncestors } from "./uri_prefix.ts";

Deno.test("normalizeUriPrefix() drops trailing slashes but keeps the root", () => {
  assert.equal(normalizeUriPrefix("/docs/"), "/docs");
  assert.equal(normalizeUriPrefix("/docs//"), "/docs");
  assert.equal(normalizeUriPrefix("/docs"), "/docs");
  assert.equal(normalizeUriPrefix("/"), "/");
  assert.equal(normalizeUriPrefix("///"), "/");
  assert.throws(() => normalizeUriPrefix(""), TypeError);
});

Deno.test("matchesUriPrefix() selects subtrees, not string prefixes", () => {
  assert.ok(matchesUriPrefix("/docs/a.txt", "/docs"));
  assert.ok(matchesUriPrefix("/docs/a.txt", "/docs/"));
  assert.ok(matchesUriPrefix("/docs/sub/a.txt", "/docs"));
  assert.ok(matchesUriPrefix("/docs", "/docs"));
  assert.ok(matchesUriPrefix("/docs/a.txt", "/docs/a.txt"));
  assert.ok(matchesUriPrefix("/docs/a.txt", "/"));
  assert.ok(!matchesUriPrefix("/docs2/a.txt", "/docs"));
  assert.ok(!matchesUriPrefix("/doc", "/docs"));
  assert.ok(!matchesUriPrefix("/docs/a.txt", "/docs/a"));
  assert.ok(!matchesUriPrefix("relative/a.txt", "/"));
});

Deno.test("uriAncestors() lists exactly the prefixes that match, for odd uris too", () => {
  assert.deepEqual(uriAncestors("/a/b/c.txt"), ["/", "/a", "/a/b", "/a/b/c.txt"]);
  const uris = [
    "/a/b/c.txt",
    "/a",
    "/",
    "/a/",
    "/a//b",
    "//a",
    "/a%b/_c",
    "rel/a",
    "file:///x/y",
    "/docs2/a.txt",
    "/docs/a.txt",
  ];
  const prefixes = [
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/a//b",
    "/a/b/c.txt",
    "/a%b",
    "/a_b",
    "rel",
    "rel/a",
    "file:",
    "file://x",
    "file:///x",
    "/docs",
    "/doc",
    "//a",
  ];
  for (const uri of uris) {
    const ancestors = new Set(uriAncestors(uri));
    for (const prefix of prefixes) {
      assert.equal(
        ancestors.has(normalizeUriPrefix(prefix)),
        matchesUriPrefix(uri, prefix),
        `uri ${uri}, prefix ${prefix}`,
      );
    }
  }
});

Deno.test("escapeLike() escapes the like metacharacters", () => {
  assert.equal(escapeLike("/a%b_c\\d"), "/a\\%b\\_c\\\\d");
});
