import assert from "node:assert/strict";
import { htmlToText } from "./html_to_text.ts";

const PAGE = `<!doctype html>
<html><head><title>Site title</title>
<style>body { color: red } .secret { content: "STYLE" }</style>
<script>var leaked = "SCRIPT";</script>
<meta charset="utf-8"></head>
<body>
<header><nav><a href="/">Home</a> <a href="/about">About</a></nav><div>SiteBanner</div></header>
<div role="navigation">Breadcrumbs</div>
<main><article>
<header><h1>Volcanoes &amp; magma</h1></header>
<p>Volcanoes   form when
   magma rises.<br>It erupts.</p>
<h2>Types</h2>
<ul><li>Shield <b>volcano</b></li><li><p>Stratovolcano</p></li></ul>
<pre>  indented
    code</pre>
<table><tr><th>Name</th><th>Height</th></tr><tr><td><p>Etna</p></td><td>3357&nbsp;m</td></tr></table>
<div hidden>HIDDEN</div><span style="display: none">DISPLAYNONE</span><p aria-hidden="true">ARIA</p>
<noscript>NOSCRIPT</noscript><template>TEMPLATE</template><svg><text>SVG</text></svg>
<form><label>Search</label><input name="q"><button>BUTTON</button><select><option>OPTION</option></select></form>
</article></main>
<aside>SIDEBAR</aside>
<footer>Copyright FOOTER</footer>
<script>document.write("LATE SCRIPT")</script>
</body></html>`;

Deno.test("htmlToText() keeps the readable text and headings, without scripts, styles and chrome", () => {
  assert.equal(
    htmlToText(PAGE),
    [
      "# Volcanoes & magma",
      "Volcanoes form when magma rises.\nIt erupts.",
      "## Types",
      "- Shield volcano\n- Stratovolcano",
      "  indented\n    code",
      "Name | Height\nEtna | 3357 m",
      "Search",
    ].join("\n\n"),
  );
  for (
    const hidden of [
      "SCRIPT",
      "STYLE",
      "Home",
      "SiteBanner",
      "Breadcrumbs",
      "HIDDEN",
      "NONE",
      "ARIA",
      "TEMPLATE",
      "SVG",
      "BUTTON",
      "OPTION",
      "SIDEBAR",
      "FOOTER",
      "Site title",
    ]
  ) {
    assert.ok(!htmlToText(PAGE).includes(hidden), hidden);
  }
});

Deno.test("htmlToText() uses the title as a heading when the page has no h1", () => {
  assert.equal(
    htmlToText("<title> Bees </title><p>Bees make honey.</p>"),
    "# Bees\n\nBees make honey.",
  );
  assert.equal(htmlToText("<title>Only a title</title>"), "# Only a title");
});

Deno.test("htmlToText() reads fragments, plain text, entities and broken markup", () => {
  assert.equal(htmlToText("plain &lt;text&gt; &amp; more"), "plain <text> & more");
  assert.equal(htmlToText(""), "");
  assert.equal(htmlToText("<p>a<p>b</p></p></p></div>c<br><br><br><br>d"), "a\n\nb\n\nc\n\nd");
  assert.equal(htmlToText("<p>unclosed <b>bold <i>italic"), "unclosed bold italic");
  assert.equal(htmlToText("<script>never closed"), "");
  assert.equal(htmlToText("<p>&#x1F30B; &#128029; &#xD800; &bogus;</p>"), "🌋 🐝 \ufffd &bogus;");
  assert.equal(htmlToText("<h3></h3><h2>  </h2><p>x</p>"), "x");
});

Deno.test("htmlToText() stays linear on hostile nesting", () => {
  // linkedom and htmlparser2's Parser are quadratic here (20-45 s for 200 000 levels).
  const depth = 200_000;
  assert.equal(htmlToText("<div>".repeat(depth) + "deep" + "</div>".repeat(depth)), "deep");
  assert.equal(htmlToText("<div>".repeat(depth) + "stray" + "</span>".repeat(depth)), "stray");
  assert.equal(htmlToText("<b>".repeat(depth) + "bold"), "bold");
});
