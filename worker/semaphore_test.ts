import assert from "node:assert/strict";
import { Semaphore } from "./semaphore.ts";

Deno.test("Semaphore lets at most `permits` holders in, in arrival order", async () => {
  const s = new Semaphore(2);
  const order: number[] = [];
  let inside = 0;
  let peak = 0;
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const runs = gates.map((g, i) =>
    s.run(async () => {
      order.push(i);
      peak = Math.max(peak, ++inside);
      await g.promise;
      inside--;
    })
  );
  await Promise.resolve();
  assert.equal(s.available, 0);
  assert.equal(s.waiting, 3);
  for (const g of gates) g.resolve();
  await Promise.all(runs);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(s.available, 2);
});

Deno.test("Semaphore.acquire() gives up when its signal fires, holding nothing", async () => {
  const s = new Semaphore(1);
  const release = await s.acquire();
  const ctl = new AbortController();
  const waiting = s.acquire(ctl.signal);
  ctl.abort(new Error("job aborted"));
  await assert.rejects(waiting, /job aborted/);
  assert.equal(s.waiting, 0);
  release();
  release();
  assert.equal(s.available, 1, "a second release gives nothing back");
  assert.throws(() => new Semaphore(0), /permits must be a positive integer, got 0/);
});
