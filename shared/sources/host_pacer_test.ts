import assert from "node:assert/strict";
import { HostPacer } from "./host_pacer.ts";

Deno.test("HostPacer runs one request at a time per host, with the delay between them, and hosts apart in parallel", async () => {
  const pacer = new HostPacer();
  const events: { host: string; start: number; end: number }[] = [];
  const running = new Map<string, number>();
  let overlapped = false;
  const job = (host: string) => async () => {
    running.set(host, (running.get(host) ?? 0) + 1);
    if (running.get(host)! > 1) overlapped = true;
    const start = performance.now();
    await new Promise((r) => setTimeout(r, 5));
    running.set(host, running.get(host)! - 1);
    events.push({ host, start, end: performance.now() });
  };
  await Promise.all([
    pacer.run("a.test", 40, job("a.test")),
    pacer.run("a.test", 40, job("a.test")),
    pacer.run("b.test", 40, job("b.test")),
    pacer.run("a.test", 40, job("a.test")),
  ]);
  assert.equal(overlapped, false);
  const a = events.filter((e) => e.host === "a.test");
  assert.equal(a.length, 3);
  for (let i = 1; i < a.length; i++) {
    // Timers may fire a little early; 35 of the 40 ms is still a pause, 0 is none.
    assert.ok(a[i]!.start - a[i - 1]!.end >= 35, `gap ${a[i]!.start - a[i - 1]!.end} ms`);
  }
  // b.test did not wait for a.test's turns.
  const b = events.find((e) => e.host === "b.test")!;
  assert.ok(b.start < a[1]!.start);
});

Deno.test("HostPacer stops waiting when the signal aborts, and a failing request still frees the host", async () => {
  const pacer = new HostPacer();
  await assert.rejects(
    pacer.run("c.test", 10_000, () => Promise.reject(new Error("boom"))),
    /boom/,
  );
  const ac = new AbortController();
  const waiting = pacer.run("c.test", 10_000, () => Promise.resolve("never"), ac.signal);
  ac.abort(new Error("cancelled"));
  await assert.rejects(waiting, /cancelled/);
});
