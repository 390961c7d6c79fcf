/**
 * Tokenising for embedding with `@huggingface/tokenizers`, which neither truncates nor pads:
 * content tokens are cut to fit the model, then the special tokens ([CLS] ... [SEP] for BERT) are
 * put around them, so an over-long text keeps its closing [SEP].
 */
import { Tokenizer } from "@huggingface/tokenizers";

export class TextTokenizer {
  readonly #tokenizer: Tokenizer;
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
    return this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Content tokens only: no special tokens, no prefix. */
  countTokens(text: string): number {
    return this.contentIds(text).length;
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
