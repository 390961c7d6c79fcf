import assert from "node:assert/strict";
import { AckBatcher } from "./ack_batcher.ts";
import { KeySpace } from "../redis/redis.ts";
import { QueueKeys } from "./keys.ts";
import type { QueueScripts } from "./scripts.ts";
import { waitFor } from "../testing/wait.ts";

interface Item {
  id: string;
}

/** A batcher whose script calls are recorded and answered by the test. */
function batcherWith(onSettled: (item: Item) => void) {
  const calls: string[][] = [];
  const pending: (() => void)[] = [];
  const scripts = {
    completeJobs(_keys: string[], args: (string | number)[]) {
      // group, consumer, entries to read, then three values per job.
      const jobIds = args.slice(3).filter((_, i) => i % 3 === 1).map(String);
      calls.push(jobIds);
      return new Promise<[number[], [string, string[]][], number]>((resolve) =>
        pending.push(() => resolve([jobIds.map(() => 1), [], 0]))
      );
    },
  } as unknown as QueueScripts;
  const settled: string[] = [];
  const batcher: AckBatcher<Item> = new AckBatcher<Item>({
    scripts,
    keys: new QueueKeys(new KeySpace("t:"), "default"),
    group: "workers",
    consumer: "c",
    batchSize: 10,
    entryOf: (item) => ({ entryId: `0-${item.id}`, jobId: item.id, dedupKey: undefined }),
    settled: (item) => {
      settled.push(item.id);
      onSettled(item);
    },
    dropped: () => {},
    fetchCount: () => 0,
    fetched: () => {},
    closing: () => false,
    report: (err) => {
      throw err;
    },
  });
  return { batcher, calls, pending, settled };
}

Deno.test("jobs finished while a batch is in flight go in the next call, in one batch", async () => {
  const { batcher, calls, pending, settled } = batcherWith(() => {});
  batcher.add({ id: "a" });
  batcher.add({ id: "b" });
  batcher.add({ id: "c" });
  await waitFor("every item settled", () => {
    pending.splice(0).forEach((resolve) => resolve());
    return settled.length === 3;
  }, { seen: () => ({ calls, settled }) });
  assert.deepEqual(calls, [["a"], ["b", "c"]]);
  assert.equal(batcher.flushing, undefined, "the loop ended once the list was empty");
});

Deno.test("a job that finishes just after the last batch settled still gets acked", async () => {
  // A handler that settles in a microtask queued before the loop's end is observed (here: from
  // the settled callback) must start a new loop, not join the one that is ending.
  let late = true;
  const { batcher, calls, pending, settled } = batcherWith((item) => {
    if (item.id === "a" && late) {
      late = false;
      queueMicrotask(() => batcher.add({ id: "late" }));
    }
  });
  batcher.add({ id: "a" });
  await waitFor("the first call", () => calls.length === 1);
  pending.shift()!();
  await waitFor("a second call for the late job", () => {
    pending.splice(0).forEach((resolve) => resolve());
    return settled.includes("late");
  }, { seen: () => ({ calls, settled, flushing: batcher.flushing !== undefined }) });
  assert.deepEqual(calls, [["a"], ["late"]]);
});
