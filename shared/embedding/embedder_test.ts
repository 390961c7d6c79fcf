import assert from "node:assert/strict";
import { join } from "node:path";
import { type Embedder, OnnxEmbedder, type OnnxEmbedderOptions } from "./embedder.ts";
import {
  type FloatTensor,
  type InferenceRunner,
  InlineInferenceRunner,
  type IntTensor,
  type RunOptions,
} from "./inference_runner.ts";
import { type ModelConfig, readModelConfig } from "./model_config.ts";
import { RunnerPool } from "./runner_pool.ts";
import { TextTokenizer } from "./text_tokenizer.ts";
import { waitFor } from "../testing/wait.ts";
import { type TinyModelOptions, writeTinyModel } from "./tiny_model.ts";

/** A runner that delegates to a real one, failing on command. */
class FlakyRunner implements InferenceRunner {
  readonly inner: InferenceRunner;
  /** Padded tokens above which a run fails with an out-of-memory error. */
  oomAbove = Infinity;
  /** Each run's [rows, width]. */
  readonly runs: number[][] = [];
  failWith: Error | undefined;

  constructor(inner: InferenceRunner) {
    this.inner = inner;
  }
  get inputNames() {
    return this.inner.inputNames;
  }
  get outputNames() {
    return this.inner.outputNames;
  }
  get provider() {
    return this.inner.provider;
  }
  run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    const [rows, width] = feeds.input_ids!.dims as [number, number];
    this.runs.push([rows, width]);
    if (this.failWith) return Promise.reject(this.failWith);
    if (rows * width > this.oomAbove) {
      return Promise.reject(
        new Error(
          "Non-zero status code returned while running MatMul node. Status Message: CUDA failure 2: out of memory",
        ),
      );
    }
    return this.inner.run(feeds, output, options);
  }
  close() {
    return this.inner.close();
  }
}

interface Tiny {
  embedder: OnnxEmbedder;
  runner: FlakyRunner;
  tokenizer: TextTokenizer;
  config: ModelConfig;
}

async function withTiny(
  fn: (t: Tiny) => Promise<void>,
  model: TinyModelOptions = {},
  options: Partial<OnnxEmbedderOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyModel(dir, model);
    const config = (await readModelConfig(dir))!;
    const tokenizer = await TextTokenizer.load(join(dir, "tokenizer.json"));
    const runner = new FlakyRunner(await InlineInferenceRunner.open(join(dir, "model.onnx")));
    try {
      const embedder = new OnnxEmbedder({
        name: "tiny",
        config,
        tokenizer,
        runner,
        ...options,
      });
      await fn({ embedder, runner, tokenizer, config });
    } finally {
      await runner.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An embedder of the tiny model whose batches run on a pool of `sessions`. */
function pooledEmbedder(
  t: Pick<Tiny, "tokenizer" | "config">,
  sessions: InferenceRunner[],
  options: Partial<OnnxEmbedderOptions> = {},
): OnnxEmbedder {
  return new OnnxEmbedder({
    name: "tiny",
    config: t.config,
    tokenizer: t.tokenizer,
    runner: new RunnerPool(sessions),
    ...options,
  });
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const TEXTS = [
  "the quick brown fox",
  "a",
  "jumps over the lazy dog near the river bank",
  "hello world",
  "",
  "zz top",
  "semantic search engines embed text",
];

Deno.test("embedTexts() gives a text alone and inside a padded batch the same vector", async () => {
  await withTiny(async ({ embedder, runner }) => {
    const batch = await embedder.embedTexts(TEXTS, "document");
    // One batch, padded to its longest text.
    assert.equal(runner.runs.length, 1);
    // Different texts give clearly different vectors, so "the same" below means something.
    assert.ok(maxDifference(batch[0]!, batch[2]!) > 1e-2);
    for (let i = 0; i < TEXTS.length; i++) {
      const [alone] = await embedder.embedTexts([TEXTS[i]!], "document");
      assert.ok(maxDifference(alone!, batch[i]!) < 1e-5, `text ${i}`);
    }
  });
});

Deno.test("embedTexts() returns vectors in input order whatever the batching", async () => {
  await withTiny(async ({ embedder }) => {
    const reference = await Promise.all(
      TEXTS.map(async (t) => (await embedder.embedTexts([t], "document"))[0]!),
    );
    for (const maxBatchTokens of [1, 20, 50, 4096]) {
      await withTiny(
        async ({ embedder: small, runner }) => {
          const vectors = await small.embedTexts(TEXTS, "document");
          assert.equal(vectors.length, TEXTS.length);
          vectors.forEach((v, i) => assert.ok(maxDifference(v, reference[i]!) < 1e-5));
          if (maxBatchTokens === 1) assert.equal(runner.runs.length, TEXTS.length);
        },
        {},
        { maxBatchTokens },
      );
    }
  });
});

Deno.test("embedTexts() handles empty strings and an empty list", async () => {
  await withTiny(async ({ embedder }) => {
    assert.deepEqual(await embedder.embedTexts([], "document"), []);
    const [empty, blank] = await embedder.embedTexts(["", "   "], "query");
    assert.equal(empty!.length, 32);
    assert.ok(empty!.every(Number.isFinite));
    assert.ok(Math.abs(Math.hypot(...empty!) - 1) < 1e-5);
    assert.ok(maxDifference(empty!, blank!) < 1e-6);
  });
});

Deno.test("embedTexts() cuts over-long texts to the model's limit, keeping [SEP]", async () => {
  await withTiny(async ({ embedder, runner, tokenizer }) => {
    // One token a character: 29 content tokens, then "d" as the 30th and last that fits
    // (32 tokens with [CLS] and [SEP]).
    const head = "abcdefghij abcdefghij abcdefghi d";
    const ids = embedder.encode(head + " efghij".repeat(20), "document");
    assert.equal(ids.length, 32);
    assert.deepEqual(tokenizer.tokens(ids.slice(-3)), ["##i", "d", "[SEP]"]);
    const [a, b] = await embedder.embedTexts([
      head + " xyz".repeat(50),
      head + " qrs".repeat(80),
    ], "document");
    // Both differ only past the cut, so the model sees the same input.
    assert.ok(maxDifference(a!, b!) < 1e-6);
    assert.deepEqual(runner.runs.at(-1), [2, 32]);
  }, { maxTokens: 32 });
});

Deno.test("embedTexts() puts the mode's prefix before the text", async () => {
  await withTiny(async ({ embedder, tokenizer }) => {
    // "d: " is two tokens; [CLS] and [SEP] two more.
    assert.equal(embedder.maxChunkTokens, 32 - 2 - 2);
    assert.deepEqual(
      tokenizer.tokens(embedder.encode("ab", "document")),
      ["[CLS]", "d", ":", "a", "##b", "[SEP]"],
    );
    assert.deepEqual(
      tokenizer.tokens(embedder.encode("ab", "query")),
      ["[CLS]", "q", ":", "a", "##b", "[SEP]"],
    );
    const [query] = await embedder.embedTexts(["hello"], "query");
    const [document] = await embedder.embedTexts(["hello"], "document");
    const [manual] = await embedder.embedTexts(["q: hello"], "document");
    assert.ok(maxDifference(query!, document!) > 1e-3);
    assert.ok(maxDifference(query!, manual!) > 1e-3, "document prefix applies too");
  }, { queryPrefix: "q: ", documentPrefix: "d: " });
});

Deno.test("pooling in JavaScript from token states matches the graph's pooled output", async () => {
  for (const pooling of ["mean", "cls"] as const) {
    await withTiny(async ({ embedder: graph }) => {
      await withTiny(async ({ embedder: js }) => {
        const a = await graph.embedTexts(TEXTS, "document");
        const b = await js.embedTexts(TEXTS, "document");
        a.forEach((v, i) => assert.ok(maxDifference(v, b[i]!) < 1e-5, `${pooling} text ${i}`));
      }, { pooling, output: "last_hidden_state" });
    }, { pooling });
  }
});

Deno.test("an out-of-memory run halves the batch and retries; the budget grows back", async () => {
  // 4 to 13 tokens each: one batch of 16 × 13 = 208 padded tokens under a 512 budget.
  const texts = Array.from({ length: 16 }, (_, i) => "abcdefghij".slice(0, 1 + (i % 10)) + " x");
  await withTiny(
    async ({ embedder, runner }) => {
      const expected = await embedder.embedTexts(texts, "document");
      assert.deepEqual(runner.runs, [[16, 13]]);

      runner.runs.length = 0;
      runner.oomAbove = 40;
      const vectors = await embedder.embedTexts(texts, "document");
      vectors.forEach((v, i) => assert.ok(maxDifference(v, expected[i]!) < 1e-5, `text ${i}`));
      // 208 fails, then 8 × 13 = 104, then 4 × 13 = 52; 2 × 13 = 26 fits.
      const failed = runner.runs.filter(([rows, width]) => rows! * width! > 40);
      assert.deepEqual(failed, [[16, 13], [8, 13], [4, 13]]);
      assert.deepEqual(runner.runs[3], [2, 13]);
      assert.ok(embedder.budget.current < 512);

      runner.oomAbove = Infinity;
      for (let i = 0; i < 10 && embedder.budget.current < 512; i++) {
        await embedder.embedTexts(texts, "document");
      }
      assert.equal(embedder.budget.current, 512);
      runner.runs.length = 0;
      await embedder.embedTexts(texts, "document");
      assert.deepEqual(runner.runs, [[16, 13]], "full-size batches again");
    },
    {},
    { maxBatchTokens: 512, regrowAfter: 4 },
  );
});

Deno.test("out of memory on a single text is an error, as is any other failure", async () => {
  await withTiny(async ({ embedder, runner }) => {
    runner.oomAbove = 3;
    await assert.rejects(
      embedder.embedTexts(["abcdef"], "document"),
      /out of memory on a single text of 8 tokens/,
    );
    runner.oomAbove = Infinity;
    runner.failWith = new Error("Invalid feed");
    runner.runs.length = 0;
    await assert.rejects(embedder.embedTexts(TEXTS, "document"), /Invalid feed/);
    assert.equal(runner.runs.length, 1, "no retry on other errors");
  });
});

Deno.test("embedTexts() stops between batches when its signal aborts", async () => {
  await withTiny(
    async ({ embedder, runner }) => {
      const controller = new AbortController();
      controller.abort(new Error("cancelled by user"));
      await assert.rejects(
        embedder.embedTexts(TEXTS, "document", { signal: controller.signal }),
        /cancelled by user/,
      );
      assert.equal(runner.runs.length, 0);

      const later = new AbortController();
      const inner = runner.run.bind(runner);
      runner.run = (feeds, output) => {
        later.abort(new Error("cancelled mid-way"));
        return inner(feeds, output);
      };
      await assert.rejects(
        embedder.embedTexts(TEXTS, "document", { signal: later.signal }),
        /cancelled mid-way/,
      );
      assert.equal(runner.runs.length, 1);
    },
    {},
    { maxBatchTokens: 1 },
  );
});

Deno.test("embedTexts() validates its arguments", async () => {
  await withTiny(async ({ embedder }) => {
    const e: Embedder = embedder;
    const notStrings = ["a", 3] as unknown as string[];
    await assert.rejects(e.embedTexts(notStrings, "document"), /array of strings/);
    const badMode = "passage" as unknown as "query";
    await assert.rejects(
      e.embedTexts(["a"], badMode),
      /mode must be "document" or "query", got passage/,
    );
  });
});

Deno.test("OnnxEmbedder refuses a config whose dimension the model does not give", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyModel(dir);
    const config = { ...(await readModelConfig(dir))!, dimension: 64 };
    const runner = await InlineInferenceRunner.open(join(dir, "model.onnx"));
    try {
      const embedder = new OnnxEmbedder({
        name: "tiny",
        config,
        tokenizer: await TextTokenizer.load(join(dir, "tokenizer.json")),
        runner,
      });
      await assert.rejects(
        embedder.embedTexts(["a"], "document"),
        /gives 32 dimensions, config says 64/,
      );
      assert.throws(
        () =>
          new OnnxEmbedder({
            name: "tiny",
            config: { ...config, output: "nope" },
            tokenizer: new TextTokenizer(
              JSON.parse(Deno.readTextFileSync(join(dir, "tokenizer.json"))),
            ),
            runner,
          }),
        /output nope not among last_hidden_state, sentence_embedding/,
      );
    } finally {
      await runner.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the observer hears of every batch (texts, real tokens) and every out-of-memory halving", async () => {
  const batches: { texts: number; tokens: number; seconds: number }[] = [];
  const halvings: number[] = [];
  const texts = Array.from({ length: 8 }, (_, i) => "abcdefghij".slice(0, 1 + i) + " x");
  await withTiny(
    async ({ embedder, runner, tokenizer }) => {
      runner.oomAbove = 40;
      await embedder.embedTexts(texts, "document");
      // One batch of 8 fails, then the first of 4 (budgets halve to 48, then 24), then pairs run.
      assert.deepEqual(halvings, [8, 4]);
      assert.equal(
        batches.length,
        runner.runs.length - runner.runs.filter(([r, w]) => r! * w! > 40).length,
      );
      assert.equal(batches.reduce((n, b) => n + b.texts, 0), 8);
      const realTokens = texts.reduce((n, t) => n + embedder.encode(t, "document").length, 0);
      assert.equal(batches.reduce((n, b) => n + b.tokens, 0), realTokens);
      assert.ok(realTokens > texts.length && tokenizer.padId >= 0);
      assert.ok(batches.every((b) => b.seconds >= 0));
    },
    {},
    {
      maxBatchTokens: 512,
      observer: {
        batch: (e) => batches.push(e),
        outOfMemory: (e) => halvings.push(e.texts),
      },
    },
  );
});

/** Delegates to `inner` after a pause, counting the runs in progress across every wrapper. */
class OverlapRunner extends FlakyRunner {
  static running = 0;
  static most = 0;
  override async run(feeds: Record<string, IntTensor>, output: string): Promise<FloatTensor> {
    OverlapRunner.running++;
    OverlapRunner.most = Math.max(OverlapRunner.most, OverlapRunner.running);
    try {
      await new Promise((r) => setTimeout(r, 5));
      return await super.run(feeds, output);
    } finally {
      OverlapRunner.running--;
    }
  }
}

Deno.test("with a pool of sessions, embedTexts() runs its batches side by side (one per session), vectors in input order; out of memory still halves", async () => {
  const texts = Array.from({ length: 24 }, (_, i) => "abcdefghij".slice(0, 1 + (i % 10)) + " y");
  await withTiny(async ({ embedder: alone, runner, tokenizer, config }) => {
    const expected = await alone.embedTexts(texts, "document");
    const sessions = [new OverlapRunner(runner.inner), new OverlapRunner(runner.inner)];
    const pooled = pooledEmbedder({ tokenizer, config }, sessions, {
      maxBatchTokens: 40,
      regrowAfter: 100,
    });
    assert.equal(pooled.parallelRuns, 2);
    assert.equal(pooled.batchTokens, 80, "the budget times the sessions");
    OverlapRunner.most = 0;
    const vectors = await pooled.embedTexts(texts, "document");
    vectors.forEach((v, i) => assert.ok(maxDifference(v, expected[i]!) < 1e-5, `text ${i}`));
    assert.equal(OverlapRunner.most, 2, "two batches at once, never more");
    assert.ok(sessions.every((s) => s.runs.length > 0), "both sessions ran batches");
    const batches = sessions.flatMap((s) => s.runs);
    assert.ok(batches.every(([rows, width]) => rows! * width! <= 40), "each under the budget");
    assert.equal(batches.reduce((n, [rows]) => n + rows!, 0), texts.length, "each text once");

    // One session runs out of memory above 20 padded tokens: replanned, every vector the same.
    for (const s of sessions) s.runs.length = 0;
    sessions[0]!.oomAbove = 20;
    const again = await pooled.embedTexts(texts, "document");
    again.forEach((v, i) => assert.ok(maxDifference(v, expected[i]!) < 1e-5, `text ${i} again`));
    assert.ok(pooled.budget.current <= 20);
  });
});

/** Holds every run until the test lets it go, in the order they came. */
class HeldRunner extends FlakyRunner {
  readonly held: PromiseWithResolvers<void>[] = [];
  /** Runs that returned their output. */
  completed = 0;
  override async run(
    feeds: Record<string, IntTensor>,
    output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    // The run has its session from here; the hold is its inference time.
    options?.onStart?.();
    const gate = Promise.withResolvers<void>();
    this.held.push(gate);
    await gate.promise;
    const out = await super.run(feeds, output);
    this.completed++;
    return out;
  }
}

Deno.test("onStarted fires once, when the call's last batch goes to the model, before the call ends; not when the call fails first", async () => {
  await withTiny(async ({ runner, tokenizer, config }) => {
    const sessions = [new HeldRunner(runner.inner), new HeldRunner(runner.inner)];
    const pooled = pooledEmbedder({ tokenizer, config }, sessions, { maxBatchSize: 1 });
    const held = () => sessions.flatMap((s) => s.held);
    let fired = 0;
    let ended = false;
    // Three batches of one text on two sessions: two start, the third waits for a session.
    const call = pooled.embedTexts(["one", "two", "three"], "document", {
      onStarted: () => fired++,
    }).finally(() => ended = true);
    await waitFor("two batches running", () => held().length === 2, { seen: held });
    assert.equal(fired, 0, "a batch is still waiting to go");
    held()[0]!.resolve();
    await waitFor("the third batch running", () => held().length === 3, { seen: held });
    assert.equal(fired, 1);
    assert.equal(ended, false, "told before the call ends");
    for (const g of held()) g.resolve();
    assert.equal((await call).length, 3);
    assert.equal(fired, 1, "once");

    // The first batch fails while two more wait: they never go, so it never fires.
    for (const s of sessions) s.held.length = 0;
    sessions[0]!.failWith = new Error("session lost");
    let firedOnFailure = 0;
    const failing = pooled.embedTexts(["a", "b", "c", "d"], "document", {
      onStarted: () => firedOnFailure++,
    });
    await waitFor("two batches running", () => held().length === 2, { seen: held });
    for (const g of held()) g.resolve();
    await assert.rejects(failing, /session lost/);
    assert.equal(firedOnFailure, 0);
  });
});

Deno.test("onVectors gives each model batch's vectors as it ends, before the call does; each text once; none after the call failed", async () => {
  await withTiny(async ({ runner, tokenizer, config }) => {
    const sessions = [new HeldRunner(runner.inner), new HeldRunner(runner.inner)];
    const pooled = pooledEmbedder({ tokenizer, config }, sessions, { maxBatchSize: 1 });
    const held = () => sessions.flatMap((s) => s.held);
    const given: { indices: number[]; vectors: Float32Array[] }[] = [];
    let ended = false;
    const call = pooled.embedTexts(["one", "two", "three"], "document", {
      onVectors: (indices, vectors) => given.push({ indices: [...indices], vectors: [...vectors] }),
    }).finally(() => ended = true);
    await waitFor("two batches running", () => held().length === 2, { seen: held });
    held()[1]!.resolve();
    await waitFor("one batch's vectors", () => given.length === 1, { seen: () => given });
    assert.equal(given[0]!.indices.length, 1, "one text per batch");
    assert.equal(ended, false, "given before the call ends");
    await waitFor("the third batch running", () => held().length === 3, { seen: held });
    for (const g of held()) g.resolve();
    const vectors = await call;
    assert.deepEqual(given.flatMap((g) => g.indices).sort(), [0, 1, 2], "each text once");
    for (const g of given) {
      g.indices.forEach((index, k) => assert.deepEqual(g.vectors[k], vectors[index]));
    }

    // One session fails while the other runs a batch: that batch's vectors are not given.
    for (const s of sessions) s.held.length = 0;
    sessions[0]!.failWith = new Error("session lost");
    given.length = 0;
    const failing = pooled.embedTexts(["a", "b"], "document", {
      onVectors: (indices, v) => given.push({ indices: [...indices], vectors: [...v] }),
    });
    await waitFor("two batches running", () => held().length === 2, { seen: held });
    sessions[0]!.held[0]!.resolve();
    await assert.rejects(failing, /session lost/);
    const before = sessions[1]!.completed;
    sessions[1]!.held[0]!.resolve();
    await waitFor("the other batch run", () => sessions[1]!.completed === before + 1, {
      seen: () => sessions[1]!.completed,
    });
    // The lane that ran it goes on in the same turn: after one more, it has had its chance.
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(given, [], "nothing after the failure");
  });
});

Deno.test("the observer times a batch from when a session takes it, not from when it began to wait for one", async () => {
  await withTiny(async ({ runner, tokenizer, config }) => {
    const session = new HeldRunner(runner.inner);
    const seconds: number[] = [];
    const embedder = pooledEmbedder({ tokenizer, config }, [session], {
      observer: { batch: (e) => seconds.push(e.seconds), outOfMemory: () => {} },
    });
    let now = 0;
    const realNow = performance.now;
    Object.defineProperty(performance, "now", { value: () => now, configurable: true });
    try {
      // Two calls at once on one session: the second's batch waits while the first runs.
      const calls = [
        embedder.embedTexts(["one"], "document"),
        embedder.embedTexts(["two"], "document"),
      ];
      await waitFor("the first batch running", () => session.held.length === 1);
      now = 100;
      session.held[0]!.resolve();
      await waitFor("the second batch running", () => session.held.length === 2);
      now = 105;
      session.held[1]!.resolve();
      await Promise.all(calls);
    } finally {
      Object.defineProperty(performance, "now", { value: realNow, configurable: true });
    }
    assert.deepEqual(seconds, [0.1, 0.005], "100 ms running, then 5 ms after a 100 ms wait");
  });
});
