import assert from "node:assert/strict";
import {
  type Chunk,
  chunkDocument,
  type ChunkDocumentOptions,
  type TokenCounter,
} from "./chunk_document.ts";
import { loadMiniLmTokenizer } from "../../tests/fixtures/minilm_tokenizer.ts";

const PROSE = [
  "Honeybees live in colonies of tens of thousands of workers, a few hundred drones and one queen.",
  "Workers forage for nectar and pollen within a few kilometres of the hive, and they tell each",
  "other where the flowers are with a waggle dance on the comb. Nectar is passed from mouth to",
  "mouth, loses water as the bees fan it with their wings, and is sealed in wax cells as honey.",
  "In winter the colony clusters around the queen and shivers its flight muscles to stay warm,",
  "living on the honey it stored in summer. A strong colony can survive months of frost this way.",
].join(" ");

function prose(paragraphs: number): string {
  return Array.from({ length: paragraphs }, (_, i) => `${PROSE} (Paragraph ${i + 1}.)`).join(
    "\n\n",
  );
}

const MARKDOWN = `# Volcanoes

Volcanoes form where magma reaches the surface. Most sit along plate boundaries, where one plate
sinks beneath another or two plates pull apart. Hot spots such as Hawaii are the exception.

## Eruptions

An eruption begins when gas dissolved in the magma comes out of solution, like bubbles in a shaken
bottle of soda. Runny basalt lets the gas escape gently and lava flows for miles. Sticky rhyolite
traps it until the pressure shatters the rock and the eruption becomes an explosion of ash.

\`\`\`
# not a heading: a comment inside a code fence
\`\`\`

Hazards
-------

Lava is rarely the deadliest danger. Pyroclastic flows move faster than a car. Lahars bury valleys
far from the volcano, and ash clouds ground aircraft across whole continents.

### Monitoring

Seismometers, tiltmeters and gas sensors watch the restless ones.
`;

/** Checks what chunkDocument promises for every input. */
function assertChunkInvariants(
  text: string,
  chunks: Chunk[],
  options: ChunkDocumentOptions,
  { coverage = true } = {},
): void {
  const { chunkSize, chunkOverlap, tokenizer } = options;
  chunks.forEach((chunk, i) => {
    assert.equal(chunk.ordinal, i);
    assert.equal(chunk.text, text.slice(chunk.startOffset, chunk.endOffset));
    assert.equal(chunk.text, chunk.text.trim(), `chunk ${i} starts or ends with whitespace`);
    assert.equal(chunk.tokenCount, tokenizer.countTokens(chunk.text));
    assert.ok(chunk.tokenCount <= chunkSize, `chunk ${i} has ${chunk.tokenCount} > ${chunkSize}`);
    assert.ok(chunk.tokenCount > 0);
    const previous = chunks[i - 1];
    if (previous !== undefined) {
      assert.ok(chunk.startOffset > previous.startOffset, `chunk ${i} does not move forward`);
      assert.ok(chunk.endOffset > previous.endOffset, `chunk ${i} adds no new text`);
      if (chunk.startOffset < previous.endOffset) {
        const shared = text.slice(chunk.startOffset, previous.endOffset);
        assert.ok(
          tokenizer.countTokens(shared) <= chunkOverlap,
          `chunks ${i - 1} and ${i} share ${
            tokenizer.countTokens(shared)
          } > ${chunkOverlap} tokens`,
        );
      }
    }
  });
  if (coverage) {
    const covered = new Uint8Array(text.length);
    for (const c of chunks) covered.fill(1, c.startOffset, c.endOffset);
    for (let i = 0; i < text.length; i++) {
      if (!covered[i] && /\S/.test(text[i]!)) {
        assert.fail(`offset ${i} (${JSON.stringify(text.slice(i, i + 20))}) is in no chunk`);
      }
    }
  }
}

Deno.test("chunkDocument() rejects bad options with RangeError or TypeError", () => {
  const tokenizer = { countTokens: (t: string) => t.length };
  const doc = { text: "hello world", mimeType: "text/plain" };
  for (
    const [chunkSize, chunkOverlap] of [[0, 0], [-5, 0], [1.5, 0], [NaN, 0], [10, 10], [10, 11], [
      10,
      -1,
    ], [10, 0.5]]
  ) {
    assert.throws(
      () => chunkDocument(doc, { chunkSize: chunkSize!, chunkOverlap: chunkOverlap!, tokenizer }),
      RangeError,
      `size ${chunkSize} overlap ${chunkOverlap}`,
    );
  }
  assert.throws(
    () => chunkDocument(doc, { chunkSize: 10, chunkOverlap: 2, tokenizer: {} as TokenCounter }),
    TypeError,
  );
  assert.throws(
    () =>
      chunkDocument({ text: 5 as unknown as string, mimeType: "text/plain" }, {
        chunkSize: 10,
        chunkOverlap: 2,
        tokenizer,
      }),
    TypeError,
  );
  for (const bad of [NaN, -1, 1.5, "3"]) {
    assert.throws(
      () =>
        chunkDocument(doc, {
          chunkSize: 10,
          chunkOverlap: 2,
          tokenizer: { countTokens: () => bad as number },
        }),
      TypeError,
    );
  }
});

Deno.test("chunkDocument() keeps every chunk within chunkSize model tokens and covers the text", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  for (
    const [chunkSize, chunkOverlap] of [[200, 40], [64, 16], [30, 0], [17, 16], [5, 2], [1, 0]]
  ) {
    const options = { chunkSize: chunkSize!, chunkOverlap: chunkOverlap!, tokenizer };
    const text = prose(6);
    const chunks = chunkDocument({ text, mimeType: "text/plain" }, options);
    assertChunkInvariants(text, chunks, options);
    assert.ok(chunks.length > 1);
  }
});

Deno.test("chunkDocument() overlaps consecutive chunks by up to chunkOverlap tokens", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const text = prose(4);
  const options = { chunkSize: 60, chunkOverlap: 15, tokenizer };
  const chunks = chunkDocument({ text, mimeType: "text/plain" }, options);
  assertChunkInvariants(text, chunks, options);
  const overlaps = chunks.slice(1).map((c, i) => {
    const previous = chunks[i]!;
    return c.startOffset < previous.endOffset
      ? tokenizer.countTokens(text.slice(c.startOffset, previous.endOffset))
      : 0;
  });
  // Words here are one or two tokens, so an overlap can always take at least half.
  for (const tokens of overlaps) assert.ok(tokens >= 7 && tokens <= 15, `overlap ${tokens}`);

  const none = chunkDocument({ text, mimeType: "text/plain" }, { ...options, chunkOverlap: 0 });
  assertChunkInvariants(text, none, { ...options, chunkOverlap: 0 });
  none.slice(1).forEach((c, i) => assert.ok(c.startOffset >= none[i]!.endOffset));
  assert.ok(none.length < chunks.length);
});

Deno.test("chunkDocument() ends chunks at paragraph and sentence boundaries when it can", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const text = prose(5);
  const chunks = chunkDocument({ text, mimeType: "text/plain" }, {
    chunkSize: 120,
    chunkOverlap: 0,
    tokenizer,
  });
  for (const c of chunks) {
    assert.match(c.text, /[.!?)]$/, `chunk ${c.ordinal} ends mid-sentence: ${c.text.slice(-40)}`);
  }
});

Deno.test("chunkDocument() is deterministic", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const text = prose(5) + "\n\n" + MARKDOWN;
  const options = { chunkSize: 50, chunkOverlap: 12, tokenizer };
  const first = chunkDocument({ text, mimeType: "text/markdown" }, options);
  const second = chunkDocument({ text, mimeType: "text/markdown" }, options);
  assert.deepEqual(second, first);
});

Deno.test("chunkDocument() keeps Markdown headings with their section", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  for (const chunkSize of [20, 30, 45, 80, 500]) {
    const options = { chunkSize, chunkOverlap: Math.floor(chunkSize / 5), tokenizer };
    const chunks = chunkDocument({ text: MARKDOWN, mimeType: "text/markdown" }, options);
    assertChunkInvariants(MARKDOWN, chunks, options);
    const headingLines = new Set([
      "# Volcanoes",
      "## Eruptions",
      "Hazards",
      "-------",
      "### Monitoring",
    ]);
    for (const c of chunks) {
      const last = c.text.split("\n").at(-1)!;
      assert.ok(!headingLines.has(last), `chunk ends with heading ${last} (size ${chunkSize})`);
    }
    // A heading inside a code fence is text, not a section start.
    const fenced = MARKDOWN.indexOf("# not a heading");
    assert.ok(chunks.some((c) => c.startOffset < fenced && c.endOffset > fenced) || chunkSize < 30);
    if (chunkSize >= 30 && chunkSize < 500) {
      // Sections larger than half a chunk start a new chunk at their heading.
      assert.ok(chunks.some((c) => c.text.startsWith("## Eruptions")));
    }
  }
});

Deno.test("chunkDocument() finds reStructuredText headings for text/x-rst", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const rst = `=========
Tidepools
=========

${PROSE}

Anemones
--------

${PROSE}
`;
  const options = { chunkSize: 60, chunkOverlap: 10, tokenizer };
  const chunks = chunkDocument({ text: rst, mimeType: "text/x-rst" }, options);
  assertChunkInvariants(rst, chunks, options);
  assert.ok(chunks.some((c) => c.text.startsWith("Anemones\n--------")), "section starts a chunk");
  for (const c of chunks) {
    assert.ok(!/\n-+$/.test(c.text) && !/^=+$/.test(c.text.split("\n").at(-1)!));
  }
});

Deno.test("chunkDocument() never spans two PDF pages and records each chunk's page", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const pageTexts = [prose(2), "Short page two.", "", prose(1)];
  let text = "";
  const pages = pageTexts.map((p, i) => {
    if (i > 0) text += "\n\n";
    const span = { page: i + 1, start: text.length, end: text.length + p.length };
    text += p;
    return span;
  });
  const options = { chunkSize: 100, chunkOverlap: 20, tokenizer };
  const chunks = chunkDocument({ text, mimeType: "application/pdf", pages }, options);
  assertChunkInvariants(text, chunks, options);
  for (const c of chunks) {
    const page = pages.find((p) => p.page === c.page)!;
    assert.ok(page !== undefined, `chunk ${c.ordinal} has no page`);
    assert.ok(
      c.startOffset >= page.start && c.endOffset <= page.end,
      `chunk ${c.ordinal} spans pages`,
    );
  }
  assert.deepEqual([...new Set(chunks.map((c) => c.page))], [1, 2, 4]);
  assert.equal(chunks.find((c) => c.page === 2)!.text, "Short page two.");
});

Deno.test("chunkDocument() cuts text without spaces (CJK, base64) within the limit", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const cjk = "火山は地下のマグマが地表に噴出してできる山である。".repeat(200);
  let base64 = "";
  for (let i = 0; base64.length < 4_000; i++) base64 += btoa(String(i * 7919)).replace(/=/g, "");
  const emoji = "🌋🐝🌊".repeat(500);
  for (const text of [cjk, base64, emoji, `${PROSE} ${base64} ${PROSE}`]) {
    for (const [chunkSize, chunkOverlap] of [[64, 8], [7, 3]]) {
      const options = { chunkSize: chunkSize!, chunkOverlap: chunkOverlap!, tokenizer };
      const chunks = chunkDocument({ text, mimeType: "text/plain" }, options);
      assertChunkInvariants(text, chunks, options);
      for (const c of chunks) {
        // Never inside a surrogate pair.
        assert.ok(!/^[\udc00-\udfff]/.test(c.text) && !/[\ud800-\udbff]$/.test(c.text));
      }
    }
  }
});

Deno.test("chunkDocument() re-packs a chunk when piece counts under-estimate it", () => {
  // Counts whitespace too, which pieces (words) never include: their sums are always low.
  let calls = 0;
  const tokenizer = {
    countTokens(text: string) {
      calls++;
      return text.length;
    },
  };
  const text = prose(3);
  const options = { chunkSize: 100, chunkOverlap: 30, tokenizer };
  const chunks = chunkDocument({ text, mimeType: "text/plain" }, options);
  assertChunkInvariants(text, chunks, options);
  assert.ok(calls > 0);
  // Re-packing still fills chunks reasonably.
  const mean = chunks.reduce((s, c) => s + c.tokenCount, 0) / chunks.length;
  assert.ok(mean > 50, `mean chunk ${mean}`);
});

Deno.test("chunkDocument() tokenises the text a bounded number of times (linear work)", async () => {
  const real = await loadMiniLmTokenizer();
  let characters = 0;
  const tokenizer = {
    countTokens(text: string) {
      characters += text.length;
      return real.countTokens(text);
    },
  };
  const text = (prose(4) + "\n\n" + MARKDOWN).repeat(40);
  chunkDocument({ text, mimeType: "text/markdown" }, {
    chunkSize: 200,
    chunkOverlap: 40,
    tokenizer,
  });
  // Each chunk once (plus its overlap, a fifth) and each distinct word once.
  assert.ok(characters < text.length * 2, `tokenised ${characters} characters of ${text.length}`);
});

Deno.test("chunkDocument() gives no chunks for empty, blank or token-less text", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const options = { chunkSize: 10, chunkOverlap: 2, tokenizer };
  for (const text of ["", "   \n\n\t ", "\u200b\u200b"]) {
    assert.deepEqual(chunkDocument({ text, mimeType: "text/plain" }, options), []);
  }
});

Deno.test("chunkDocument() throws RangeError when one character has more tokens than chunkSize", () => {
  const tokenizer = { countTokens: (t: string) => [...t].length * 3 };
  assert.throws(
    () =>
      chunkDocument({ text: "ab", mimeType: "text/plain" }, {
        chunkSize: 2,
        chunkOverlap: 0,
        tokenizer,
      }),
    RangeError,
  );
});
