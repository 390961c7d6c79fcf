import assert from "node:assert/strict";
import type { FloatTensor, InferenceRunner, IntTensor, RunOptions } from "./inference_runner.ts";
import { parallelRunsOf, RunnerPool } from "./runner_pool.ts";

/** A runner whose runs end when the test says: each run's promise waits in `open`. */
class HeldRunner implements InferenceRunner {
  readonly inputNames = ["input_ids"];
  readonly outputNames = ["sentence_embedding"];
  readonly provider = "cpu" as const;
  readonly open: { tag: number; end: (fail?: boolean) => void }[] = [];
  closed = false;

  constructor(readonly name: string) {}

  run(
    feeds: Record<string, IntTensor>,
    _output: string,
    options?: RunOptions,
  ): Promise<FloatTensor> {
    const tag = Number(feeds.input_ids!.data[0]);
    options?.onStart?.();
    return new Promise((resolve, reject) => {
      const entry = {
        tag,
        end: (fail?: boolean) => {
          this.open.splice(this.open.indexOf(entry), 1);
          if (fail) reject(new Error(`run ${tag} failed`));
          else resolve({ data: new Float32Array([tag]), dims: [1, 1] });
        },
      };
      this.open.push(entry);
    });
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const feeds = (tag: number) => ({
  input_ids: { data: new BigInt64Array([BigInt(tag)]), dims: [1, 1] },
});
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("RunnerPool runs one batch per session at once; the next waits for the first session free, in order", async () => {
  const a = new HeldRunner("a"), b = new HeldRunner("b");
  const pool = new RunnerPool([a, b]);
  assert.equal(pool.size, 2);
  assert.equal(parallelRunsOf(pool), 2);
  const runs = [1, 2, 3, 4].map((t) => pool.run(feeds(t), "sentence_embedding"));
  await settle();
  const running = () => [...a.open, ...b.open].map((r) => r.tag).sort();
  const end = (tag: number, fail = false) =>
    [...a.open, ...b.open].find((r) => r.tag === tag)!.end(fail);
  assert.deepEqual(running(), [1, 2], "two at once; 3 and 4 wait");
  assert.deepEqual([a.open.length, b.open.length], [1, 1], "one per session");
  // A failed run frees its session too: 3 (the longest waiting) goes there, 4 still waits.
  end(2, true);
  await assert.rejects(runs[1]!, /run 2 failed/);
  await settle();
  assert.deepEqual(running(), [1, 3]);
  end(1);
  await settle();
  assert.deepEqual(running(), [3, 4]);
  assert.deepEqual([a.open.length, b.open.length], [1, 1]);
  end(3);
  end(4);
  assert.deepEqual(
    [await runs[0]!, await runs[2]!, await runs[3]!].map((t) => t.data[0]),
    [1, 3, 4],
  );
  await pool.close();
  assert.ok(a.closed && b.closed);
});

Deno.test("RunnerPool refuses no session or sessions that differ; a single runner runs one batch at a time", () => {
  assert.throws(() => new RunnerPool([]), /no runner/);
  const other = new HeldRunner("c");
  (other as { outputNames: string[] }).outputNames = ["last_hidden_state"];
  assert.throws(() => new RunnerPool([new HeldRunner("a"), other]), /sessions differ/);
  assert.equal(parallelRunsOf(new HeldRunner("d")), 1);
});

Deno.test("RunnerPool tells a run it started only when a session takes it, not while it waits for one", async () => {
  const a = new HeldRunner("a");
  const pool = new RunnerPool([a]);
  const started: number[] = [];
  const runs = [1, 2].map((t) =>
    pool.run(feeds(t), "sentence_embedding", { onStart: () => started.push(t) })
  );
  await settle();
  assert.deepEqual(started, [1], "2 waits for the session");
  a.open[0]!.end();
  await settle();
  assert.deepEqual(started, [1, 2]);
  a.open[0]!.end();
  assert.deepEqual((await Promise.all(runs)).map((r) => r.data[0]), [1, 2]);
});
