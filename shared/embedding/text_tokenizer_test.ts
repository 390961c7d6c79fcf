import assert from "node:assert/strict";
import { defaultModelSourcePaths } from "./default_model.ts";
import { TextTokenizer } from "./text_tokenizer.ts";
import { tinyTokenizerJson } from "./tiny_model.ts";

const bert = await TextTokenizer.load(defaultModelSourcePaths().tokenizerPath);
const tiny = new TextTokenizer(JSON.parse(tinyTokenizerJson()));

Deno.test("TextTokenizer finds BERT's [CLS] and [SEP] around the content", () => {
  assert.deepEqual(bert.tokens(bert.prefixIds), ["[CLS]"]);
  assert.deepEqual(bert.tokens(bert.suffixIds), ["[SEP]"]);
  assert.equal(bert.specialTokenCount, 2);
  assert.equal(bert.padId, 0);
  assert.deepEqual(bert.encode("A man is eating food.", 256), [
    101,
    1037,
    2158,
    2003,
    5983,
    2833,
    1012,
    102,
  ]);
});

Deno.test("countTokens() counts content tokens only", () => {
  assert.equal(bert.countTokens("A man is eating food."), 6);
  assert.equal(bert.countTokens(""), 0);
  assert.equal(tiny.countTokens("abc de"), 5);
});

Deno.test("encode() cuts over-long texts and keeps [SEP] last", () => {
  const long = "word ".repeat(1000);
  const ids = bert.encode(long, 256);
  assert.equal(ids.length, 256);
  assert.deepEqual(bert.tokens([ids[0]!, ids[254]!, ids[255]!]), ["[CLS]", "word", "[SEP]"]);
  const short = tiny.encode("abcdefghij", 6);
  assert.deepEqual(tiny.tokens(short), ["[CLS]", "a", "##b", "##c", "##d", "[SEP]"]);
});

Deno.test("encode() gives an empty string its special tokens only", () => {
  assert.deepEqual(bert.tokens(bert.encode("", 256)), ["[CLS]", "[SEP]"]);
  assert.deepEqual(bert.tokens(bert.encode("   \n\t", 256)), ["[CLS]", "[SEP]"]);
});

Deno.test("encode() refuses a limit that leaves no room for content", () => {
  assert.throws(() => bert.encode("x", 2), /maxTokens 2 leaves no room/);
});

Deno.test("TextTokenizer.load() names the file it cannot read", async () => {
  await assert.rejects(
    TextTokenizer.load("/nonexistent/tokenizer.json"),
    /\/nonexistent\/tokenizer.json/,
  );
});
