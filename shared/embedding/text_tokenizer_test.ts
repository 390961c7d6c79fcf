import assert from "node:assert/strict";
import { defaultModelSourcePaths } from "./default_model.ts";
import { Tokenizer } from "@huggingface/tokenizers";
import { RECENT_TEXTS, SHORT_COUNTS, TextTokenizer } from "./text_tokenizer.ts";
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

/** Counts the calls into the underlying tokenizer while `fn` runs. */
function tokenizerCalls(fn: () => void): number {
  const proto = Tokenizer.prototype as unknown as { encode: (...a: unknown[]) => unknown };
  const original = proto.encode;
  let calls = 0;
  proto.encode = function (this: unknown, ...a: unknown[]) {
    calls++;
    return original.apply(this, a);
  };
  try {
    fn();
  } finally {
    proto.encode = original;
  }
  return calls;
}

const sentence = (i: number) => `The chunk number ${i} says something about rivers and music.`;

Deno.test("encode() reuses the ids of a text just counted (a chunk), with the same result", () => {
  const t = new TextTokenizer(JSON.parse(tinyTokenizerJson()));
  const fresh = new TextTokenizer(JSON.parse(tinyTokenizerJson()));
  const text = sentence(1);
  const expected = fresh.countTokens(text);
  let ids: number[] = [];
  const calls = tokenizerCalls(() => {
    assert.equal(t.countTokens(text), expected);
    ids = t.encode(text, 512);
  });
  assert.equal(calls, 1, "the chunk was tokenised once");
  assert.deepEqual(ids, new TextTokenizer(JSON.parse(tinyTokenizerJson())).encode(text, 512));
  // The kept ids are the tokenizer's own: a caller changing what it got changes nothing.
  t.contentIds(text).push(7);
  assert.deepEqual(t.encode(text, 512), ids);
});

Deno.test("countTokens() memoises short texts (words repeat across documents)", () => {
  const t = new TextTokenizer(JSON.parse(tinyTokenizerJson()));
  const calls = tokenizerCalls(() => {
    for (let i = 0; i < 5; i++) assert.equal(t.countTokens("abc"), 3);
  });
  assert.equal(calls, 1);
});

Deno.test("the kept ids are bounded: the oldest text is tokenised again", () => {
  const t = new TextTokenizer(JSON.parse(tinyTokenizerJson()));
  const calls = tokenizerCalls(() => {
    t.countTokens(sentence(0));
    for (let i = 1; i <= RECENT_TEXTS; i++) t.countTokens(sentence(i));
    t.encode(sentence(RECENT_TEXTS), 512); // still kept
    t.encode(sentence(0), 512); // dropped
  });
  assert.equal(calls, RECENT_TEXTS + 2);
});

Deno.test("the memo of short counts is bounded: cleared when full", () => {
  const t = new TextTokenizer(JSON.parse(tinyTokenizerJson()));
  const calls = tokenizerCalls(() => {
    for (let i = 0; i < SHORT_COUNTS; i++) t.countTokens(i.toString(36));
    t.countTokens("0"); // still remembered
    t.countTokens("zzzzzz"); // the memo is full: cleared, then this one kept
    t.countTokens("0"); // forgotten
  });
  assert.equal(calls, SHORT_COUNTS + 2);
});
