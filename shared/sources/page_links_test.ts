import assert from "node:assert/strict";
import { readPageLinks } from "./page_links.ts";

Deno.test("readPageLinks() finds links in order, once, resolved against the page and <base>", () => {
  const html = `<!doctype html><html><head>
    <link rel="stylesheet" href="/style.css">
    <link rel="Canonical" href="/guide/intro#top">
    <script>var s = '<a href="/from-script">';</script>
  </head><body>
    <a href="b.html#part">B</a> <a href="/guide/b.html">B again</a>
    <a href="mailto:x@y.z">mail</a> <a href="javascript:void(0)">js</a> <a name="anchor">no href</a>
    <map><area href="https://other.example/x" /></map>
    <a href="?q=1&amp;r=2">query</a>
  </body></html>`;
  const r = readPageLinks(html, "https://docs.test/guide/a.html");
  assert.deepEqual(r.links, [
    "https://docs.test/guide/b.html",
    "https://other.example/x",
    "https://docs.test/guide/a.html?q=1&r=2",
  ]);
  assert.equal(r.canonical, "https://docs.test/guide/intro");
  assert.equal(r.noindex, false);
  assert.equal(r.nofollow, false);

  const based = readPageLinks(
    `<base href="https://docs.test/v2/"><a href="x.html">x</a>`,
    "https://docs.test/guide/a.html",
  );
  assert.deepEqual(based.links, ["https://docs.test/v2/x.html"]);
});

Deno.test("readPageLinks() reads meta robots noindex and nofollow", () => {
  const r = readPageLinks(
    `<meta name="ROBOTS" content="NoIndex, NOFOLLOW"><a href="/x">x</a>`,
    "https://d.test/",
  );
  assert.equal(r.noindex, true);
  assert.equal(r.nofollow, true);
  const none = readPageLinks(`<meta name="robots" content="none">`, "https://d.test/");
  assert.deepEqual([none.noindex, none.nofollow], [true, true]);
});

Deno.test("readPageLinks() stays linear on deeply nested markup", () => {
  const depth = 200_000;
  const html = "<div>".repeat(depth) + '<a href="/deep">d</a>' + "</div>".repeat(depth);
  assert.deepEqual(readPageLinks(html, "https://d.test/").links, ["https://d.test/deep"]);
});
