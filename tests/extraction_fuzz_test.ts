/**
 * Property tests with seeded random input: whatever the bytes, extraction either gives a
 * well-formed document or throws ExtractionError; whatever the text, chunking gives chunks
 * within the limit. A failure prints its seed and case so it can be replayed
 * (`FUZZ_SEED=<seed> deno test -A tests/extraction_fuzz_test.ts`).
 */
import assert from "node:assert/strict";
import { extractBytes } from "../shared/extraction/extract_bytes.ts";
import { ExtractionError } from "../shared/extraction/extraction_error.ts";
import { htmlToText } from "../shared/extraction/html_to_text.ts";
import { chunkDocument } from "../shared/chunking/chunk_document.ts";
import { mulberry32 } from "./fixtures/corpus.ts";
import { makeDocx } from "./fixtures/docx.ts";
import { makePdf } from "./fixtures/pdf.ts";
import { loadMiniLmTokenizer } from "./fixtures/minilm_tokenizer.ts";

/** Set FUZZ_SEED to explore other inputs; the default keeps CI runs reproducible. */
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20240601);
const encode = (s: string) => new TextEncoder().encode(s);

class Random {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  float(): number {
    return this.#next();
  }
  int(max: number): number {
    return Math.floor(this.#next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(length: number): Uint8Array {
    return Uint8Array.from({ length }, () => this.int(256));
  }
}

const PREFIXES: Uint8Array[] = [
  new Uint8Array(),
  encode("%PDF-1.7\n"),
  new Uint8Array([0x50, 0x4b, 0x03, 0x04]),
  new Uint8Array([0xef, 0xbb, 0xbf]),
  new Uint8Array([0xff, 0xfe]),
  new Uint8Array([0xfe, 0xff]),
  encode("<html><body><p>"),
  encode("# Heading\n\n"),
];
const NAMES = ["a.txt", "a.pdf", "a.docx", "a.html", "a.md", "a.rst", "a.json", "a", ""];

async function assertExtractsOrExplains(bytes: Uint8Array, path: string, label: string) {
  try {
    const doc = await extractBytes(bytes, { path });
    assert.equal(typeof doc.text, "string", label);
    assert.ok(doc.text.trim() !== "", `${label}: completed with no text`);
    assert.ok(!doc.text.includes("\u0000"), `${label}: NUL in text`);
    assert.ok(!doc.text.includes("\r"), `${label}: CR in text`);
    assert.ok(doc.text.isWellFormed(), `${label}: lone surrogate in text`);
    assert.match(doc.contentHash, /^[0-9a-f]{64}$/, label);
    assert.equal(doc.sizeBytes, bytes.length, label);
    for (const page of doc.pages ?? []) {
      assert.ok(0 <= page.start && page.start <= page.end && page.end <= doc.text.length, label);
    }
  } catch (err) {
    if (!(err instanceof ExtractionError)) {
      assert.fail(`${label}: threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
    assert.ok(err.status === "skipped" || err.status === "failed", label);
    assert.ok(err.reason.length > 0, label);
  }
}

Deno.test("extractBytes() on random bytes only ever throws ExtractionError", async () => {
  const random = new Random(SEED);
  for (let i = 0; i < 300; i++) {
    const prefix = random.pick(PREFIXES);
    const body = random.bytes(random.int(3000));
    const bytes = new Uint8Array([...prefix, ...body]);
    await assertExtractsOrExplains(bytes, random.pick(NAMES), `seed ${SEED} case ${i}`);
  }
});

Deno.test("extractBytes() on damaged PDF and DOCX files only ever throws ExtractionError", async () => {
  const random = new Random(SEED + 1);
  const pdf = await makePdf(["A page about volcanoes.", "A second page about honeybees."]);
  const docx = makeDocx([{ text: "Heading", heading: 1 }, { text: "A paragraph of text." }]);
  for (let i = 0; i < 200; i++) {
    const original = random.pick([pdf, docx]);
    const bytes = original.slice(0, random.float() < 0.3 ? random.int(original.length) : undefined);
    const flips = 1 + random.int(8);
    for (let f = 0; f < flips && bytes.length > 0; f++) {
      bytes[random.int(bytes.length)] = random.int(256);
    }
    const path = original === pdf ? "damaged.pdf" : "damaged.docx";
    await assertExtractsOrExplains(bytes, path, `seed ${SEED + 1} case ${i} (${path})`);
  }
});

/** Characters that stress decoding, tokenising and splitting. */
const ALPHABETS: string[][] = [
  [..."abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"],
  [...".,;:!?-()[]\"'"],
  [" ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "\u2028", "\u3000", "\f"],
  [..."éüßçøåñ", "e\u0301", "\u0300"],
  [..."火山蜜蜂の噴火。、！？"],
  ["🌋", "🐝", "👩‍🚀", "🇫🇷", "\u{1F600}"],
  ["\u0000", "\u0007", "\u001b", "\u007f", "\u200b", "\ufeff", "\ufffd"],
  ["\ud800", "\udfff"], // lone surrogates
  [
    "# ",
    "## ",
    "\n# Heading\n",
    "\n===\n",
    "\n---\n",
    "```\n",
    "<p>",
    "</div>",
    "&amp;",
    "<script>",
  ],
];

function randomText(random: Random, length: number): string {
  let text = "";
  while (text.length < length) {
    const alphabet = random.pick(ALPHABETS);
    const run = 1 + random.int(20);
    for (let i = 0; i < run; i++) text += random.pick(alphabet);
  }
  return text;
}

Deno.test("chunkDocument() on random Unicode keeps every promise", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const random = new Random(SEED + 2);
  const mimeTypes = ["text/plain", "text/markdown", "text/x-rst", "text/html", "application/pdf"];
  for (let i = 0; i < 150; i++) {
    const label = `seed ${SEED + 2} case ${i}`;
    const text = randomText(random, random.int(2500));
    const chunkSize = 8 + random.int(120);
    const chunkOverlap = random.int(chunkSize);
    const mimeType = random.pick(mimeTypes);
    let cut = random.int(text.length + 1);
    // Real page breaks never split a surrogate pair.
    if (/[\udc00-\udfff]/.test(text[cut] ?? "") && /[\ud800-\udbff]/.test(text[cut - 1] ?? "")) {
      cut++;
    }
    const pages = mimeType === "application/pdf"
      ? [{ page: 1, start: 0, end: cut }, { page: 2, start: cut, end: text.length }]
      : undefined;
    const options = { chunkSize, chunkOverlap, tokenizer };
    let chunks;
    try {
      chunks = chunkDocument({ text, mimeType, pages }, options);
    } catch (err) {
      assert.fail(`${label}: threw ${(err as Error).name}: ${(err as Error).message}`);
    }
    let previous: (typeof chunks)[number] | undefined;
    for (const c of chunks) {
      assert.equal(c.text, text.slice(c.startOffset, c.endOffset), label);
      assert.equal(c.tokenCount, tokenizer.countTokens(c.text), label);
      assert.ok(c.tokenCount <= chunkSize && c.tokenCount > 0, `${label}: ${c.tokenCount} tokens`);
      if (pages) {
        assert.ok(
          c.page === 1 ? c.endOffset <= cut : c.startOffset >= cut,
          `${label}: spans pages`,
        );
      }
      if (previous && c.startOffset < previous.endOffset) {
        const shared = tokenizer.countTokens(text.slice(c.startOffset, previous.endOffset));
        assert.ok(shared <= chunkOverlap, `${label}: overlap ${shared} > ${chunkOverlap}`);
      }
      if (previous) assert.ok(c.endOffset > previous.endOffset, `${label}: no progress`);
      previous = c;
    }
    assert.deepEqual(
      chunkDocument({ text, mimeType, pages }, options),
      chunks,
      `${label}: not deterministic`,
    );
  }
});

Deno.test("htmlToText() and extractBytes() on random tag soup never throw unexpectedly", async () => {
  const random = new Random(SEED + 3);
  const pieces = [
    "<div>",
    "</div>",
    "<p>",
    "</p>",
    "<script>",
    "</script>",
    "<style>",
    "<!--",
    "-->",
    "<![CDATA[",
    "<h1>",
    "</h2>",
    "<li>",
    "<td>",
    "<br/>",
    "<pre>",
    "</pre>",
    "&",
    "&#",
    "&#x1F30B;",
    "&nbsp;",
    "<a href='x",
    '">',
    "<",
    ">",
    "/",
    "=",
    "text",
    " ",
    "\n",
    "<svg>",
    "<title>",
    "<nav hidden>",
  ];
  for (let i = 0; i < 300; i++) {
    let html = "";
    const length = random.int(200);
    for (let j = 0; j < length; j++) html += random.pick(pieces);
    const text = htmlToText(html);
    assert.equal(typeof text, "string");
    await assertExtractsOrExplains(encode(html), "soup.html", `seed ${SEED + 3} case ${i}`);
  }
});
