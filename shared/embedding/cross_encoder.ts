/**
 * A cross-encoder reranker: an ONNX model that reads a (query, passage) pair as one input and
 * gives one relevance logit, higher is more relevant. The model directory holds `model.onnx` and
 * `tokenizer.json` (bring your own: e.g. a MS MARCO MiniLM cross-encoder exported to ONNX with
 * inputs `input_ids`, `attention_mask` and optionally `token_type_ids`, int64 `[batch, sequence]`,
 * and an output `logits` of shape `[batch, 1]`; with two or more columns the last one is read,
 * the positive class of a classifier). Pairs are scored in batches, padded to the longest pair of
 * the batch; the passage is cut to fit `maxTokens`.
 */
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import {
  type InferenceRunner,
  InlineInferenceRunner,
  type RunnerOptions,
} from "./inference_runner.ts";

/** Options of {@link CrossEncoder.load}. */
export interface CrossEncoderOptions extends RunnerOptions {
  /** Most tokens per pair, special tokens included. @default {512} */
  maxTokens?: number;
  /** Most tokens of the query (the passage gets the rest). @default {64} */
  maxQueryTokens?: number;
  /** Pairs per inference run. @default {16} */
  batchSize?: number;
}

/** Where the pair template puts each part: ids and token types around and between the texts. */
interface PairLayout {
  pre: number[];
  preTypes: number[];
  queryType: number;
  mid: number[];
  midTypes: number[];
  passageType: number;
  post: number[];
  postTypes: number[];
}

export class CrossEncoder {
  readonly #tokenizer: Tokenizer;
  readonly #runner: InferenceRunner;
  readonly #layout: PairLayout;
  readonly #padId: number;
  readonly #output: string;
  readonly #maxTokens: number;
  readonly #maxQueryTokens: number;
  readonly #batchSize: number;

  private constructor(
    tokenizer: Tokenizer,
    runner: InferenceRunner,
    options: Required<Pick<CrossEncoderOptions, "maxTokens" | "maxQueryTokens" | "batchSize">>,
    padId: number,
  ) {
    this.#tokenizer = tokenizer;
    this.#runner = runner;
    this.#layout = pairLayout(tokenizer);
    this.#padId = padId;
    this.#output = runner.outputNames.includes("logits") ? "logits" : runner.outputNames[0]!;
    this.#maxTokens = options.maxTokens;
    this.#maxQueryTokens = options.maxQueryTokens;
    this.#batchSize = options.batchSize;
    const special = this.#layout.pre.length + this.#layout.mid.length + this.#layout.post.length;
    if (this.#maxTokens - special - this.#maxQueryTokens < 1) {
      throw new RangeError(
        `Cannot load the reranker: maxTokens ${this.#maxTokens} leaves no room for the passage`,
      );
    }
  }

  /** Loads `model.onnx` and `tokenizer.json` from `dir`. */
  static async load(dir: string, options: CrossEncoderOptions = {}): Promise<CrossEncoder> {
    const { maxTokens = 512, maxQueryTokens = 64, batchSize = 16, ...runner } = options;
    for (const [name, v] of Object.entries({ maxTokens, maxQueryTokens, batchSize })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(`Cannot load the reranker: ${name} must be a positive integer`);
      }
    }
    let json: { padding?: { pad_id?: unknown } | null };
    try {
      json = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json")));
    } catch (err) {
      throw new Error(
        `Cannot load the reranker in ${dir}: tokenizer.json: ${(err as Error).message}`,
      );
    }
    const tokenizer = new Tokenizer(json, {});
    let session: InferenceRunner;
    try {
      session = await InlineInferenceRunner.open(join(dir, "model.onnx"), runner);
    } catch (err) {
      throw new Error(`Cannot load the reranker in ${dir}: model.onnx: ${(err as Error).message}`);
    }
    for (const input of session.inputNames) {
      if (!["input_ids", "attention_mask", "token_type_ids"].includes(input)) {
        await session.close();
        throw new Error(`Cannot load the reranker in ${dir}: unknown model input ${input}`);
      }
    }
    const configured = json.padding?.pad_id;
    const padId = typeof configured === "number"
      ? configured
      : tokenizer.token_to_id("[PAD]") ?? tokenizer.token_to_id("<pad>") ?? 0;
    try {
      return new CrossEncoder(tokenizer, session, { maxTokens, maxQueryTokens, batchSize }, padId);
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  #content(text: string): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The ids and token types of one pair, cut to fit. */
  #pair(query: number[], passage: string): { ids: number[]; types: number[] } {
    const l = this.#layout;
    const q = query.slice(0, this.#maxQueryTokens);
    const room = this.#maxTokens - l.pre.length - l.mid.length - l.post.length - q.length;
    const p = this.#content(passage).slice(0, room);
    return {
      ids: [...l.pre, ...q, ...l.mid, ...p, ...l.post],
      types: [
        ...l.preTypes,
        ...q.map(() => l.queryType),
        ...l.midTypes,
        ...p.map(() => l.passageType),
        ...l.postTypes,
      ],
    };
  }

  /** One logit per passage, in the passages' order: how well it answers `query`. */
  async score(query: string, passages: readonly string[]): Promise<number[]> {
    const q = this.#content(query);
    const out: number[] = [];
    for (let i = 0; i < passages.length; i += this.#batchSize) {
      const pairs = passages.slice(i, i + this.#batchSize).map((p) => this.#pair(q, p));
      const width = Math.max(...pairs.map((p) => p.ids.length));
      const n = pairs.length;
      const ids = new BigInt64Array(n * width).fill(BigInt(this.#padId));
      const mask = new BigInt64Array(n * width);
      const types = new BigInt64Array(n * width);
      pairs.forEach((p, row) => {
        p.ids.forEach((id, j) => {
          ids[row * width + j] = BigInt(id);
          mask[row * width + j] = 1n;
          types[row * width + j] = BigInt(p.types[j]!);
        });
      });
      const dims = [n, width];
      const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = {
        input_ids: { data: ids, dims },
        attention_mask: { data: mask, dims },
        token_type_ids: { data: types, dims },
      };
      for (const name of Object.keys(feeds)) {
        if (!this.#runner.inputNames.includes(name)) delete feeds[name];
      }
      const logits = await this.#runner.run(feeds, this.#output);
      const columns = logits.dims.length > 1 ? logits.dims[logits.dims.length - 1]! : 1;
      if (logits.data.length !== n * columns) {
        throw new Error(
          `Cannot read the reranker's ${this.#output}: shape [${logits.dims}] for ${n} pairs`,
        );
      }
      for (let row = 0; row < n; row++) out.push(logits.data[row * columns + columns - 1]!);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#runner.close();
  }
}

/** Finds the pair template by encoding a probe pair whose parts are one token each. */
function pairLayout(tokenizer: Tokenizer): PairLayout {
  const a = tokenizer.encode("a", { add_special_tokens: false }).ids;
  const b = tokenizer.encode("b", { add_special_tokens: false }).ids;
  const enc = tokenizer.encode("a", {
    text_pair: "b",
    add_special_tokens: true,
    return_token_type_ids: true,
  });
  const ids = enc.ids;
  const types = enc.token_type_ids ?? ids.map(() => 0);
  if (a.length !== 1 || b.length !== 1) {
    throw new Error("Cannot load the reranker: its tokenizer splits the probe pair");
  }
  const ai = ids.indexOf(a[0]!);
  const bi = ids.indexOf(b[0]!, ai + 1);
  if (ai < 0 || bi < 0) throw new Error("Cannot load the reranker: cannot locate a text pair");
  return {
    pre: ids.slice(0, ai),
    preTypes: types.slice(0, ai),
    queryType: types[ai]!,
    mid: ids.slice(ai + 1, bi),
    midTypes: types.slice(ai + 1, bi),
    passageType: types[bi]!,
    post: ids.slice(bi + 1),
    postTypes: types.slice(bi + 1),
  };
}
