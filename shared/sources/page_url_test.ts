import assert from "node:assert/strict";
import { normalizePageUrl, WebScope } from "./page_url.ts";

Deno.test("normalizePageUrl() drops fragments and default ports, lowercases hosts and tidies escapes", () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ["HTTP://Docs.Example.COM:80/a/./b/../c#frag", undefined, "http://docs.example.com/a/c"],
    ["https://x.test:443/p?", undefined, "https://x.test/p"],
    ["https://x.test/%7euser/a%2fb%3a", undefined, "https://x.test/~user/a%2Fb%3A"],
    ["https://x.test", undefined, "https://x.test/"],
    ["../up.html#top", "https://x.test/docs/a/b.html", "https://x.test/docs/up.html"],
    ["?page=2", "https://x.test/list", "https://x.test/list?page=2"],
    ["mailto:a@b.c", "https://x.test/", undefined],
    ["javascript:void(0)", "https://x.test/", undefined],
    ["ftp://x.test/file", undefined, undefined],
    ["https://user:pw@x.test/", undefined, undefined],
    ["http://[::1", undefined, undefined],
    ["http://0x7f.1/", undefined, "http://127.0.0.1/"],
  ];
  for (const [url, base, expected] of cases) {
    assert.equal(normalizePageUrl(url, base), expected, `${url} against ${base}`);
  }
});

Deno.test("WebScope keeps the start URL's host and path prefix", async (t) => {
  const cases: [string, string[], string[]][] = [
    [
      "https://docs.example.com/guide/",
      [
        "https://docs.example.com/guide/",
        "https://docs.example.com/guide/a/b.html",
        "http://docs.example.com/guide/x",
      ],
      [
        "https://docs.example.com/",
        "https://docs.example.com/guides/",
        "https://other.example.com/guide/",
        "https://docs.example.com:8443/guide/",
      ],
    ],
    [
      "https://docs.example.com/guide",
      ["https://docs.example.com/guide", "https://docs.example.com/guide/intro"],
      ["https://docs.example.com/guide-old/", "https://docs.example.com/"],
    ],
    [
      "https://docs.example.com/guide/index.html",
      ["https://docs.example.com/guide/", "https://docs.example.com/guide/other.html"],
      ["https://docs.example.com/index.html"],
    ],
  ];
  for (const [start, inside, outside] of cases) {
    await t.step(start, () => {
      const scope = new WebScope(start);
      for (const u of inside) assert.ok(scope.contains(u), `${u} should be inside`);
      for (const u of outside) assert.ok(!scope.contains(u), `${u} should be outside`);
    });
  }
  const scope = new WebScope("https://docs.example.com/guide/");
  assert.equal(scope.relativePath("https://docs.example.com/guide/"), "");
  assert.equal(
    scope.relativePath("https://docs.example.com/guide/api/caf%C3%A9.html?x=1"),
    "api/café.html",
  );
  assert.equal(new WebScope("https://d.test/guide").relativePath("https://d.test/guide"), "");
  assert.throws(() => new WebScope("ftp://x/"), TypeError);
});
