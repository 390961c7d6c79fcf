/**
 * Windowed chunking equals whole-text chunking: {@link ChunkStream} fed a generated text in
 * random pieces, with small windows, gives exactly {@link chunkDocument}'s chunks.
 * `CHUNK_SEED` picks other inputs.
 */
import assert from "node:assert/strict";
import { seededRandom } from "../embedding/seeded_random.ts";
import { loadMiniLmTokenizer } from "../../tests/fixtures/minilm_tokenizer.ts";
import { type Chunk, chunkDocument, ChunkStream, type TokenCounter } from "./chunk_document.ts";

const SEED = Number(Deno.env.get("CHUNK_SEED") ?? 18);
const WORDS = (
  "the bees of a hive dance and fly to flowers. volcano ash, lava; magma: rock! why? " +
  "supercalifragilisticexpialidocious x y z 42 naïve café 東京 😀 “quoted” end."
).split(" ");

/** A text with what can straddle a window edge: headings of every kind, fences, long runs. */
function generateText(rand: () => number, parts: number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(" ");
  const out: string[] = [];
  for (let i = 0; i < parts; i++) {
    const r = rand();
    if (r < 0.12) out.push(`${"#".repeat(1 + Math.floor(rand() * 6))} ${words(3)}`);
    else if (r < 0.18) out.push(`${words(3)}\n${pick(["===", "---", "~~~~~~~~", "----------"])}`);
    else if (r < 0.22) out.push(`${"=".repeat(12)}\n${words(2)}\n${"=".repeat(12)}`);
    else if (r < 0.3) {
      const fence = pick(["```", "~~~", "````"]);
      out.push(`${fence}\n# not a heading ${words(4)}\n${words(6)}\n${fence}`);
    } else if (r < 0.33) out.push(pick(["```", "~~~~"])); // a fence left open
    else if (r < 0.37) out.push("x".repeat(20 + Math.floor(rand() * 300)));
    else if (r < 0.4) out.push("東京".repeat(10 + Math.floor(rand() * 80)));
    else if (r < 0.43) out.push("😀".repeat(5 + Math.floor(rand() * 60)));
    else if (r < 0.46) out.push(`- ${words(5)}\n- ${words(4)}`);
    else out.push(words(3 + Math.floor(rand() * 40)));
    out.push(pick(["\n\n", "\n", " ", "\n\n\n", "\f", "\n \n"]));
  }
  return out.join("");
}

/** Feeds `text` in random pieces. */
function streamed(
  text: string,
  rand: () => number,
  options: { mimeType: string; chunkSize: number; chunkOverlap: number; tokenizer: TokenCounter },
  windowChars: number,
): Chunk[] {
  const stream = new ChunkStream({ ...options, windowChars });
  const chunks: Chunk[] = [];
  let at = 0;
  while (at < text.length) {
    let next = Math.min(text.length, at + 1 + Math.floor(rand() * windowChars * 1.5));
    // A reader decodes whole code points.
    const code = text.charCodeAt(next - 1);
    if (code >= 0xd800 && code <= 0xdbff && next < text.length) next++;
    chunks.push(...stream.push(text.slice(at, next)));
    at = next;
  }
  chunks.push(...stream.finish());
  return chunks;
}

Deno.test("ChunkStream gives exactly chunkDocument's chunks, whatever the pieces and windows (property)", async () => {
  const minilm = await loadMiniLmTokenizer();
  const tokenizers: [string, TokenCounter][] = [
    ["minilm", minilm],
    ["chars/4", { countTokens: (t) => Math.ceil(t.length / 4) }],
  ];
  const rand = seededRandom(SEED);
  let windowsUsed = 0;
  for (let round = 0; round < 60; round++) {
    const text = generateText(rand, 20 + Math.floor(rand() * 200));
    const mimeType = ["text/markdown", "text/plain", "text/x-rst"][round % 3]!;
    const [name, tokenizer] = tokenizers[round % 2]!;
    const chunkSize = 8 + Math.floor(rand() * 120);
    const chunkOverlap = Math.floor(rand() * Math.min(chunkSize, 40));
    const options = { mimeType, chunkSize, chunkOverlap, tokenizer };
    const whole = chunkDocument({ text, mimeType }, options);
    const windowChars = 16 + Math.floor(rand() * 600);
    const windowed = streamed(text, rand, options, windowChars);
    const context = `seed ${SEED} round ${round}: ${mimeType}, ${name}, size ${chunkSize}, ` +
      `overlap ${chunkOverlap}, window ${windowChars}, ${text.length} chars`;
    for (let i = 0; i < Math.max(whole.length, windowed.length); i++) {
      assert.deepEqual(windowed[i], whole[i], `${context}, chunk ${i}`);
    }
    if (text.length > windowChars * 2) windowsUsed++;
  }
  assert.ok(windowsUsed > 30, `only ${windowsUsed} rounds spanned several windows`);
});

Deno.test("ChunkStream carries an open code fence and a heading's underline across a window edge", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const text = "Intro words here.\n\n```\n" + "# inside the fence\n".repeat(30) + "```\n\n" +
    "Title\n=====\n\n" + "Body text of the section. ".repeat(40);
  const options = { mimeType: "text/markdown", chunkSize: 24, chunkOverlap: 6, tokenizer };
  const whole = chunkDocument({ text, mimeType: "text/markdown" }, options);
  for (const cut of [22, 25, text.indexOf("Title") + 3, text.indexOf("=====") + 2]) {
    const stream = new ChunkStream({ ...options, windowChars: 16 });
    const chunks = [...stream.push(text.slice(0, cut)), ...stream.push(text.slice(cut))];
    chunks.push(...stream.finish());
    assert.deepEqual(chunks, whole, `cut at ${cut}`);
  }
});

Deno.test("ChunkStream holds a window, not the text", async () => {
  const tokenizer = await loadMiniLmTokenizer();
  const stream = new ChunkStream({
    mimeType: "text/plain",
    chunkSize: 64,
    chunkOverlap: 8,
    tokenizer,
    windowChars: 4096,
  });
  let emitted = 0;
  const block = "Bees fly to the flowers of the field and back to the hive. ".repeat(200);
  for (let i = 0; i < 50; i++) emitted += stream.push(block).length;
  // Most of the text is chunked before it ends, and what is kept is about one window.
  assert.ok(emitted > 0);
  assert.equal(stream.length, block.length * 50);
  const rest = stream.finish();
  assert.ok(rest.length < emitted / 10, `${rest.length} chunks left for the end of ${emitted}`);
});
