import assert from "node:assert/strict";
import { TypedEmitter } from "./emitter.ts";

interface Events {
  tick: { n: number };
}

Deno.test("TypedEmitter keeps calling listeners when one throws, and reports it", () => {
  const reported: unknown[] = [];
  const e = new TypedEmitter<Events>((err) => reported.push(err));
  const seen: number[] = [];
  e.on("tick", () => {
    throw new Error("bad listener");
  });
  const off = e.on("tick", ({ n }) => void seen.push(n));
  e.emit("tick", { n: 1 });
  off();
  e.emit("tick", { n: 2 });
  assert.deepEqual(seen, [1]);
  assert.equal(reported.length, 2);
});

Deno.test("TypedEmitter.once() resolves with the first matching event, or rejects on abort", async () => {
  const e = new TypedEmitter<Events>();
  const third = e.once("tick", ({ n }) => n === 3);
  for (let n = 1; n <= 4; n++) e.emit("tick", { n });
  assert.deepEqual(await third, { n: 3 });
  assert.equal(e.hasListeners("tick"), false);
  const ctl = new AbortController();
  const never = e.once("tick", () => false, ctl.signal);
  ctl.abort(new Error("stop waiting"));
  await assert.rejects(never, /stop waiting/);
  assert.equal(e.hasListeners("tick"), false);
});
