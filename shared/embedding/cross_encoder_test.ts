import assert from "node:assert/strict";
import { CrossEncoder } from "./cross_encoder.ts";
import { writeTinyCrossEncoder } from "./tiny_cross_encoder.ts";

const WORDS = ["honey", "bees", "hive", "nectar", "cats", "purr", "stock", "market", "make"];

Deno.test("the tiny cross-encoder scores a pair by the words it shares, batched in any size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyCrossEncoder(dir, WORDS);
    const passages = [
      "Cats purr and sleep.",
      "Bees make honey in the hive from nectar.",
      "The stock market fell.",
      "Honey is sweet.",
      "",
    ];
    for (const batchSize of [1, 2, 16]) {
      const ce = await CrossEncoder.load(dir, { batchSize });
      try {
        const scores = await ce.score("Which bees make honey?", passages);
        assert.equal(scores.length, passages.length);
        // Shared whole words: bees, make, honey = 3; honey = 1; none = 0. Less 0.001 per token
        // of the passage's segment (its closing [SEP] included).
        const expected = [0, 3, 0, 1, 0].map((w, i) => w - 0.001 * (tokens(passages[i]!) + 1));
        scores.forEach((s, i) => assert.ok(Math.abs(s - expected[i]!) < 1e-5, `${i}: ${s}`));
      } finally {
        await ce.close();
      }
    }
    // The passage is cut to fit maxTokens: only its first words count.
    const short = await CrossEncoder.load(dir, { maxTokens: 8, maxQueryTokens: 3 });
    try {
      // [CLS] bees make honey [SEP] cats purr [SEP]: the passage keeps 2 tokens.
      const [s] = await short.score("bees make honey", ["cats purr bees make honey"]);
      assert.ok(Math.abs(s! - (0 - 0.003)) < 1e-5, String(s));
    } finally {
      await short.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reranker directory without its files is refused with the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(() => CrossEncoder.load(dir), /tokenizer\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Tokens of a passage in the tiny vocabulary: known words one each, others one per character. */
function tokens(text: string): number {
  let n = 0;
  for (const w of text.toLowerCase().match(/[a-z0-9]+|[^\sa-z0-9]/g) ?? []) {
    n += WORDS.includes(w) || !/^[a-z0-9]+$/.test(w) ? 1 : w.length;
  }
  return n;
}
