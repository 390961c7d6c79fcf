/**
 * Tokenising for embedding with `@huggingface/tokenizers`, which neither truncates nor pads:
 * content tokens are cut to fit the model, then the special tokens ([CLS] ... [SEP] for BERT) are
 * put around them, so an over-long text keeps its closing [SEP].
 *
 * Indexing tokenises each text twice otherwise: the chunker counts a chunk's tokens, then the
 * embedder encodes the same chunk. So the content ids of the last {@link RECENT_TEXTS} texts
 * longer than {@link SHORT_TEXT_CHARS} are kept and reused (the chunker's last count of a chunk
 * is its text exactly; with no document prefix, the embedder's encoding asks for that text), and
 * the counts of short texts (the words the chunker counts, which repeat across documents) are
 * memoised, up to {@link SHORT_COUNTS} of them. Tokenising is pure, so neither changes a result.
 */
import { Tokenizer } from "@huggingface/tokenizers";

/** Texts up to this many characters are short: their counts are memoised. */
export const SHORT_TEXT_CHARS = 32;
/** Short texts whose counts are kept; the memo is cleared when it is full. */
export const SHORT_COUNTS = 100_000;
/** Longer texts whose content ids are kept, the least recently tokenised dropped first. */
export const RECENT_TEXTS = 1024;

export class TextTokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #counts = new Map<string, number>();
  readonly #recent = new Map<string, Int32Array>();
  /** Special tokens before the content ([CLS] for BERT). */
  readonly prefixIds: readonly number[];
  /** Special tokens after the content ([SEP] for BERT). */
  readonly suffixIds: readonly number[];
  /** The id padding positions get (they are masked out, so its value does not matter much). */
  readonly padId: number;

  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}) {
    if (typeof tokenizerJson !== "object" || tokenizerJson === null) {
      throw new TypeError("Cannot load tokenizer: tokenizer.json is not an object");
    }
    this.#tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    // Where the template puts the content: encode one probe with and without special tokens.
    const content = this.#tokenizer.encode("a", { add_special_tokens: false }).ids;
    const full = this.#tokenizer.encode("a", { add_special_tokens: true }).ids;
    const at = indexOfSequence(full, content);
    if (content.length === 0 || at < 0) {
      throw new Error("Cannot load tokenizer: cannot locate content within its special tokens");
    }
    this.prefixIds = full.slice(0, at);
    this.suffixIds = full.slice(at + content.length);
    const json = tokenizerJson as { padding?: { pad_id?: unknown } | null };
    const configured = json.padding?.pad_id;
    this.padId = typeof configured === "number"
      ? configured
      : this.#tokenizer.token_to_id("[PAD]") ?? this.#tokenizer.token_to_id("<pad>") ?? 0;
  }

  static async load(path: string): Promise<TextTokenizer> {
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(path));
    } catch (err) {
      throw new Error(`Cannot load tokenizer: ${path}: ${(err as Error).message}`);
    }
    return new TextTokenizer(json);
  }

  /** How many special tokens each input carries. */
  get specialTokenCount(): number {
    return this.prefixIds.length + this.suffixIds.length;
  }

  /** Content token ids, no special tokens. */
  contentIds(text: string): number[] {
    const kept = this.#recent.get(text);
    if (kept) return Array.from(kept);
    const ids = this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (text.length > SHORT_TEXT_CHARS) {
      if (this.#recent.size >= RECENT_TEXTS) {
        this.#recent.delete(this.#recent.keys().next().value!);
      }
      this.#recent.set(text, Int32Array.from(ids));
    }
    return ids;
  }

  /** Content tokens only: no special tokens, no prefix. */
  countTokens(text: string): number {
    if (text.length > SHORT_TEXT_CHARS) return this.contentIds(text).length;
    let n = this.#counts.get(text);
    if (n === undefined) {
      n = this.#tokenizer.encode(text, { add_special_tokens: false }).ids.length;
      if (this.#counts.size >= SHORT_COUNTS) this.#counts.clear();
      this.#counts.set(text, n);
    }
    return n;
  }

  /**
   * The ids the model gets for `text`: special tokens around the content, content cut so that
   * the whole fits `maxTokens`.
   */
  encode(text: string, maxTokens: number): number[] {
    const room = maxTokens - this.specialTokenCount;
    if (room < 1) {
      throw new RangeError(`Cannot encode text: maxTokens ${maxTokens} leaves no room for content`);
    }
    const content = this.contentIds(text);
    const kept = content.length > room ? content.slice(0, room) : content;
    return [...this.prefixIds, ...kept, ...this.suffixIds];
  }

  tokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.#tokenizer.id_to_token(id) ?? `<${id}>`);
  }
}

function indexOfSequence(haystack: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
