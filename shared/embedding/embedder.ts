/**
 * Turns texts into vectors with one loaded model. Texts are tokenised (cut to the model's
 * limit), sorted by length and packed into batches under a token budget; vectors come back in
 * input order. An out-of-memory run halves the budget and retries the same texts in smaller
 * batches; the budget grows back after a run of successes.
 */
import type { Logger } from "../log/logger.ts";
import { AdaptiveBudget } from "./adaptive_budget.ts";
import { planTokenBatches } from "./batch_planner.ts";
import type { InferenceRunner, IntTensor } from "./inference_runner.ts";
import type { ModelConfig } from "./model_config.ts";
import type { Precision } from "./precision.ts";
import { isOutOfMemoryError } from "./out_of_memory.ts";
import { l2Normalize, poolTokenStates } from "./pooling.ts";
import { parallelRunsOf } from "./runner_pool.ts";
import type { TextTokenizer } from "./text_tokenizer.ts";

export type EmbedMode = "document" | "query";

export interface EmbedOptions {
  /** Checked between batches; a running batch finishes first. */
  signal?: AbortSignal;
  /**
   * Called once, when the last batch planned for this call goes to the model (not called when
   * the call fails first, nor for no texts). A caller with more to embed may start its next
   * call then: that call's batches take sessions as they come free, so a session that finished
   * its part of this call need not wait idle for the others' last batch.
   */
  onStarted?: () => void;
  /**
   * Called as each model batch of the call ends, before the call resolves, with the positions
   * (in `texts`) of the texts that batch embedded and their vectors: a caller can write those
   * while the rest is embedded. Batches end in any order; each text comes once. Not called once
   * the call has failed. Must not throw.
   */
  onVectors?: (indices: readonly number[], vectors: readonly Float32Array[]) => void;
}

/** What the worker, the API and the chunker use of a model. */
export interface Embedder {
  /** The model's registry name. */
  readonly model: string;
  readonly dimension: number;
  /** The precision of the graph this embedder runs; vectors of different precisions differ. */
  readonly precision: Precision;
  /** Most tokens one input may have, special tokens included. */
  readonly maxTokens: number;
  /**
   * The largest chunk, in {@link countTokens} units, that fits the model in document mode:
   * max tokens minus special tokens minus the document prefix's tokens.
   */
  readonly maxChunkTokens: number;
  /**
   * Padded tokens the embedder runs at once as it batches texts now (its token budget, times
   * the batches it runs side by side): a caller that feeds it a stream of texts (the indexing
   * pipeline) can hand them over in pieces of about this size instead of waiting to gather
   * many. @default {undefined: no preference}
   */
  readonly batchTokens?: number;
  /** Model batches it runs side by side (its sessions). @default {undefined: 1} */
  readonly parallelRuns?: number;
  /** One vector per text, in input order. Over-long texts are cut to the model's limit. */
  embedTexts(texts: string[], mode: EmbedMode, options?: EmbedOptions): Promise<Float32Array[]>;
  /** Content tokens of `text`: no special tokens, no prefix. */
  countTokens(text: string): number;
}

export interface OnnxEmbedderOptions {
  /** The model's registry name. */
  name: string;
  config: ModelConfig;
  tokenizer: TextTokenizer;
  runner: InferenceRunner;
  /** The precision of the runner's graph. @default {"fp32"} */
  precision?: Precision;
  /** Most padded tokens (texts × longest) in one batch, before any halving. @default {8192} */
  maxBatchTokens?: number;
  /** Most texts in one batch. @default {256} */
  maxBatchSize?: number;
  /** Successful batches after which a halved budget doubles again. @default {16} */
  regrowAfter?: number;
  /** @default {no logging} */
  log?: Logger;
  /** Told of every batch run and every out-of-memory halving (metrics). @default {none} */
  observer?: EmbeddingObserver;
}

/** What an embedder reports as it runs; calls must not throw. */
export interface EmbeddingObserver {
  /** A batch ran: its texts, their real (unpadded) tokens and how long inference took. */
  batch(event: { model: string; texts: number; tokens: number; seconds: number }): void;
  /** A batch ran out of memory; the budget was halved and its texts planned again. */
  outOfMemory(event: { model: string; texts: number }): void;
}

const KNOWN_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids"]);

/** The largest chunk, in content tokens, that fits in document mode. */
export function maxChunkTokensOf(config: ModelConfig, tokenizer: TextTokenizer): number {
  return config.max_tokens - tokenizer.specialTokenCount -
    tokenizer.countTokens(config.document_prefix);
}

export class OnnxEmbedder implements Embedder {
  readonly model: string;
  readonly dimension: number;
  readonly precision: Precision;
  readonly maxTokens: number;
  readonly maxChunkTokens: number;
  readonly budget: AdaptiveBudget;
  /** Batches run side by side: the runner's sessions (see `runner_pool.ts`). */
  readonly parallelRuns: number;
  readonly #config: ModelConfig;
  readonly #tokenizer: TextTokenizer;
  readonly #runner: InferenceRunner;
  readonly #maxBatchSize: number;
  readonly #output: string;
  readonly #inputs: ReadonlySet<string>;
  readonly #log: Logger | undefined;
  readonly #observer: EmbeddingObserver | undefined;

  constructor(options: OnnxEmbedderOptions) {
    const {
      name,
      config,
      tokenizer,
      runner,
      maxBatchTokens = 8192,
      maxBatchSize = 256,
      regrowAfter = 16,
      log,
    } = options;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new RangeError(
        `Cannot create embedder: maxBatchSize must be a positive integer, got ${maxBatchSize}`,
      );
    }
    this.model = name;
    this.dimension = config.dimension;
    this.precision = options.precision ?? "fp32";
    this.maxTokens = config.max_tokens;
    this.maxChunkTokens = maxChunkTokensOf(config, tokenizer);
    if (this.maxChunkTokens < 1) {
      throw new RangeError(
        `Cannot create embedder for ${name}: max_tokens ${config.max_tokens} leaves no room for content`,
      );
    }
    this.budget = new AdaptiveBudget({ max: maxBatchTokens, regrowAfter });
    this.#config = config;
    this.#tokenizer = tokenizer;
    this.#runner = runner;
    this.parallelRuns = parallelRunsOf(runner);
    this.#maxBatchSize = maxBatchSize;
    this.#log = log;
    this.#observer = options.observer;

    const inputs = new Set(runner.inputNames);
    const unknown = [...inputs].filter((i) => !KNOWN_INPUTS.has(i));
    if (!inputs.has("input_ids") || unknown.length > 0) {
      throw new Error(
        `Cannot use model ${name}: expected inputs input_ids[, attention_mask, token_type_ids], ` +
          `got ${[...inputs].join(", ")}`,
      );
    }
    this.#inputs = inputs;
    const outputs = runner.outputNames;
    const output = config.output ??
      (outputs.includes("sentence_embedding")
        ? "sentence_embedding"
        : outputs.includes("last_hidden_state")
        ? "last_hidden_state"
        : outputs[0]);
    if (output === undefined || !outputs.includes(output)) {
      throw new Error(
        `Cannot use model ${name}: output ${output ?? "(none)"} not among ${outputs.join(", ")}`,
      );
    }
    this.#output = output;
  }

  get batchTokens(): number {
    return this.budget.current * this.parallelRuns;
  }

  countTokens(text: string): number {
    return this.#tokenizer.countTokens(text);
  }

  /** The ids the model gets for `text` in `mode` (prefix, special tokens, truncation). */
  encode(text: string, mode: EmbedMode): number[] {
    const prefix = mode === "query" ? this.#config.query_prefix : this.#config.document_prefix;
    return this.#tokenizer.encode(prefix + text, this.maxTokens);
  }

  async embedTexts(
    texts: string[],
    mode: EmbedMode,
    options: EmbedOptions = {},
  ): Promise<Float32Array[]> {
    const { signal, onStarted, onVectors } = options;
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) {
      throw new TypeError("Cannot embed texts: texts must be an array of strings");
    }
    if (mode !== "document" && mode !== "query") {
      throw new TypeError(`Cannot embed texts: mode must be "document" or "query", got ${mode}`);
    }
    signal?.throwIfAborted();
    if (texts.length === 0) return [];

    const encoded = texts.map((t) => this.encode(t, mode));
    const results = new Array<Float32Array | undefined>(texts.length);
    let pending = this.#plan(encoded, encoded.map((_, i) => i));
    // One lane per batch the runner can run at once; each takes the next planned batch. An
    // out-of-memory batch is planned again with every batch not started yet; batches running
    // in other lanes finish as they are.
    let stopped = false;
    let allStarted = false;
    const lane = async () => {
      while (pending.length > 0 && !stopped) {
        signal?.throwIfAborted();
        const batch = pending.shift()!;
        if (pending.length === 0 && !allStarted) {
          allStarted = true;
          onStarted?.();
        }
        let vectors: Float32Array[];
        // Timed from when a session takes it (a runner that does not say: from now).
        let started = performance.now();
        try {
          vectors = await this.#runBatch(
            batch.map((i) => encoded[i]!),
            () => started = performance.now(),
          );
        } catch (err) {
          if (!isOutOfMemoryError(err)) throw err;
          const longest = Math.max(...batch.map((i) => encoded[i]!.length));
          if (batch.length === 1) {
            throw new Error(
              `Cannot embed with ${this.model}: out of memory on a single text of ${longest} tokens`,
              { cause: err },
            );
          }
          this.budget.recordOutOfMemory(batch.length * longest);
          this.#observer?.outOfMemory({ model: this.model, texts: batch.length });
          this.#log?.warn("embedding ran out of memory; halving the batch budget", {
            model: this.model,
            texts: batch.length,
            budget: this.budget.current,
          });
          pending = this.#plan(encoded, [...batch, ...pending.flat()]);
          continue;
        }
        batch.forEach((index, k) => results[index] = vectors[k]);
        if (!stopped) onVectors?.(batch, vectors);
        this.#observer?.batch({
          model: this.model,
          texts: batch.length,
          tokens: batch.reduce((n, i) => n + encoded[i]!.length, 0),
          seconds: (performance.now() - started) / 1000,
        });
        this.budget.recordSuccess();
      }
    };
    const lanes = Math.min(this.parallelRuns, pending.length);
    await Promise.all(Array.from({ length: lanes }, async () => {
      try {
        await lane();
      } catch (err) {
        // The other lanes finish the batch they run and start no other.
        stopped = true;
        throw err;
      }
    }));
    return results as Float32Array[];
  }

  #plan(encoded: number[][], indices: number[]): number[][] {
    const lengths = indices.map((i) => encoded[i]!.length);
    return planTokenBatches(lengths, {
      maxBatchTokens: this.budget.current,
      maxBatchSize: this.#maxBatchSize,
    }).map((group) => group.map((k) => indices[k]!));
  }

  async #runBatch(sequences: number[][], onStart: () => void): Promise<Float32Array[]> {
    const rows = sequences.length;
    const width = Math.max(...sequences.map((s) => s.length));
    const ids = new BigInt64Array(rows * width).fill(BigInt(this.#tokenizer.padId));
    const mask = new BigInt64Array(rows * width);
    sequences.forEach((seq, r) => {
      for (let t = 0; t < seq.length; t++) {
        ids[r * width + t] = BigInt(seq[t]!);
        mask[r * width + t] = 1n;
      }
    });
    const dims = [rows, width];
    const feeds: Record<string, IntTensor> = { input_ids: { data: ids, dims } };
    if (this.#inputs.has("attention_mask")) feeds.attention_mask = { data: mask, dims };
    if (this.#inputs.has("token_type_ids")) {
      feeds.token_type_ids = { data: new BigInt64Array(rows * width), dims };
    }
    const out = await this.#runner.run(feeds, this.#output, { onStart });
    let vectors: Float32Array[];
    if (out.dims.length === 2 && out.dims[0] === rows) {
      const size = out.dims[1]!;
      vectors = Array.from({ length: rows }, (_, r) => out.data.slice(r * size, (r + 1) * size));
    } else if (out.dims.length === 3 && out.dims[0] === rows) {
      vectors = poolTokenStates(out.data, {
        dims: out.dims,
        lengths: sequences.map((s) => s.length),
        pooling: this.#config.pooling,
      });
    } else {
      throw new Error(
        `Cannot read ${this.model} output ${this.#output}: unexpected shape [${out.dims}]`,
      );
    }
    for (const v of vectors) {
      if (v.length !== this.dimension) {
        throw new Error(
          `Cannot embed with ${this.model}: model gives ${v.length} dimensions, config says ${this.dimension}`,
        );
      }
      // Idempotent on an already normalised graph output; needed for token-state outputs.
      if (this.#config.normalize) l2Normalize(v);
    }
    return vectors;
  }
}
