import assert from "node:assert/strict";
import { AckBatcher } from "./ack_batcher.ts";
import { KeySpace } from "../redis/redis.ts";
import { QueueKeys } from "./keys.ts";
import type { QueueScripts } from "./scripts.ts";
import { waitFor } from "../testing/wait.ts";

interface Item {
  id: string;
}

/** The options every batcher here shares: queue keys, names, and one entry per item. */
const common = {
  keys: new QueueKeys(new KeySpace("t:"), "default"),
  group: "workers",
  consumer: "c",
  batchSize: 10,
  entryOf: (item: Item) => ({ entryId: `0-${item.id}`, jobId: item.id, dedupKey: undefined }),
  dropped: () => {},
  closing: () => false,
};

/** A batcher whose script calls are recorded and answered by the test. */
function batcherWith(onSettled: (item: Item) => void) {
  const calls: string[][] = [];
  /** The `share` each call asked `fetchCount` for, in call order. */
  const shares: number[] = [];
  const pending: (() => void)[] = [];
  let inFlight = 0;
  let peak = 0;
  const scripts = {
    completeJobs(_keys: string[], args: (string | number)[]) {
      // group, consumer, entries to read, then three values per job.
      const jobIds = args.slice(3).filter((_, i) => i % 3 === 1).map(String);
      calls.push(jobIds);
      peak = Math.max(peak, ++inFlight);
      return new Promise<[number[], [string, string[]][], number]>((resolve) =>
        pending.push(() => {
          inFlight--;
          resolve([jobIds.map(() => 1), [], 0]);
        })
      );
    },
  } as unknown as QueueScripts;
  const settled: string[] = [];
  const batcher: AckBatcher<Item> = new AckBatcher<Item>({
    ...common,
    scripts,
    settled: (item) => {
      settled.push(item.id);
      onSettled(item);
    },
    fetchCount: (share) => {
      shares.push(share);
      return 0;
    },
    fetched: () => {},
    report: (err) => {
      throw err;
    },
  });
  return { batcher, calls, shares, pending, settled, peak: () => peak };
}

Deno.test("two calls in flight at most: jobs finished while both are go in the next call, in one batch", async () => {
  const { batcher, calls, pending, settled, peak } = batcherWith(() => {});
  for (const id of ["a", "b", "c", "d"]) batcher.add({ id });
  assert.deepEqual(calls, [["a"], ["b"]], "a second call goes out while the first is in flight");
  // Replies one at a time: the first one's lane sends c and d while b is in flight.
  await waitFor("every item settled", () => {
    pending.shift()?.();
    return settled.length === 4;
  }, { seen: () => ({ calls, settled }) });
  assert.deepEqual(calls, [["a"], ["b"], ["c", "d"]]);
  assert.equal(peak(), 2);
  assert.equal(batcher.flushing, undefined, "the loops ended once the list was empty");
});

Deno.test("a lane handling a reply sends what finished meanwhile itself; alone, it splits them with the other lane", async () => {
  // Jobs that finish while the first call's reply is handled (as the jobs it read would).
  const { batcher, calls, shares, pending, settled } = batcherWith((item) => {
    if (item.id === "a") { for (const id of ["b", "c", "d", "e"]) batcher.add({ id }); }
  });
  batcher.add({ id: "a" });
  assert.deepEqual(calls, [["a"]]);
  pending.shift()!();
  await waitFor("two calls for the four jobs", () => calls.length === 3, {
    seen: () => ({ calls, settled }),
  });
  // Not one call per job as each finished, nor one call for all four: half each, at once, the
  // first reading for half of the free slots and the second for the rest.
  assert.deepEqual(calls, [["a"], ["b", "c"], ["d", "e"]]);
  assert.deepEqual(shares, [1, 0.5, 1]);
  await waitFor("every item settled", () => {
    pending.splice(0).forEach((resolve) => resolve());
    return settled.length === 5;
  }, { seen: () => ({ calls, settled }) });
});

Deno.test("a job that finishes just after the last batch settled still gets acked", async () => {
  // A handler that settles a few microtasks after a reply (here: queued from the settled
  // callback, 0 to 8 hops later) must be sent, whether the lane that handled the reply sees it
  // or has ended by then and a new lane starts: never left waiting for the next job.
  for (let hops = 0; hops <= 8; hops++) {
    let late = true;
    const { batcher, calls, pending, settled } = batcherWith((item) => {
      if (item.id === "a" && late) {
        late = false;
        const add = (n: number): void =>
          n === 0 ? batcher.add({ id: "late" }) : queueMicrotask(() => add(n - 1));
        add(hops + 1);
      }
    });
    batcher.add({ id: "a" });
    await waitFor("the first call", () => calls.length === 1);
    pending.shift()!();
    await waitFor(`a second call for the late job (${hops} hops)`, () => {
      pending.splice(0).forEach((resolve) => resolve());
      return settled.includes("late");
    }, { seen: () => ({ calls, settled, flushing: batcher.flushing !== undefined }) });
    assert.deepEqual(calls, [["a"], ["late"]]);
  }
});

Deno.test("a completing call that throws at once gives its slots back and is tried again", async () => {
  let throws = true;
  const released: number[] = [];
  const reported: string[] = [];
  const settled: string[] = [];
  const scripts = {
    completeJobs(_keys: string[], args: (string | number)[]) {
      if (throws) {
        throws = false;
        throw new Error("Connection is closed.");
      }
      const jobIds = args.slice(3).filter((_, i) => i % 3 === 1).map(String);
      return Promise.resolve([jobIds.map(() => 1), [], 0]);
    },
  } as unknown as QueueScripts;
  const batcher = new AckBatcher<Item>({
    ...common,
    scripts,
    settled: (item) => void settled.push(item.id),
    fetchCount: () => 3,
    fetched: (_entries, reserved) => void released.push(reserved),
    report: (err) => void reported.push(String(err)),
  });
  batcher.add({ id: "a" });
  await waitFor("a acked after the retry", () => settled.includes("a"), {
    seen: () => ({ released, reported, settled }),
  });
  assert.deepEqual(reported, ["Error: Connection is closed."]);
  assert.deepEqual(released, [3, 3], "the failed call's reserved slots, then the retry's");
  await waitFor("the loop to end", () => batcher.flushing === undefined);
});
