import assert from "node:assert/strict";
import { loginAttemptKeys, RateLimiter } from "./rate_limiter.ts";
import { withTestRedis } from "@semantik/shared/testing";

Deno.test("RateLimiter.take() counts on every counter until one is full, then counts nothing", async () => {
  await withTestRedis(async ({ redis, prefix }) => {
    const rl = new RateLimiter(redis, prefix, { windowSeconds: 60 });
    // The login's keys (one hash tag per address, so this runs on a cluster too).
    const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => loginAttemptKeys(n, "a"));
    const pair = [{ key: alice!.nameAndAddress, limit: 3 }, { key: alice!.address, limit: 5 }];
    for (let i = 0; i < 3; i++) assert.equal(await rl.take(pair), 0, `attempt ${i + 1}`);
    const wait = await rl.take(pair);
    assert.ok(wait > 0 && wait <= 60, String(wait));
    // The refused attempt counted on neither counter.
    assert.equal(await redis.get(`${prefix}${alice!.nameAndAddress}`), "3");
    assert.equal(await redis.get(`${prefix}${alice!.address}`), "3");
    const ttl = await redis.ttl(`${prefix}${alice!.address}`);
    assert.ok(ttl > 0 && ttl <= 60, String(ttl));
    // Another name from the same address still has room on the address counter.
    assert.equal(await rl.take([{ key: bob!.nameAndAddress, limit: 3 }, pair[1]!]), 0);
    assert.equal(await rl.take([{ key: bob!.nameAndAddress, limit: 3 }, pair[1]!]), 0);
    assert.ok((await rl.take([{ key: carol!.nameAndAddress, limit: 3 }, pair[1]!])) > 0);
    // giveBack() takes one attempt back, never below zero; reset() forgets a counter.
    await rl.giveBack(alice!.address);
    assert.equal(await redis.get(`${prefix}${alice!.address}`), "4");
    await rl.reset(alice!.nameAndAddress);
    assert.equal(await rl.take(pair), 0);
    await rl.giveBack("addr:nobody");
    assert.equal(await redis.exists(`${prefix}addr:nobody`), 0);
  });
});

Deno.test("RateLimiter.take() is atomic: of 40 concurrent attempts exactly the limit pass", async () => {
  await withTestRedis(async ({ redis, prefix }) => {
    const rl = new RateLimiter(redis, prefix, { windowSeconds: 60 });
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => rl.take([{ key: "name:x:addr:y", limit: 10 }])),
    );
    assert.equal(answers.filter((w) => w === 0).length, 10);
    assert.equal(await redis.get(`${prefix}name:x:addr:y`), "10");
  });
});

Deno.test("RateLimiter.take() gives a full counter without an expiry one, so it cannot block forever", async () => {
  await withTestRedis(async ({ redis, prefix }) => {
    const rl = new RateLimiter(redis, prefix, { windowSeconds: 30 });
    await redis.set(`${prefix}addr:z`, "99");
    const wait = await rl.take([{ key: "addr:z", limit: 10 }]);
    assert.ok(wait > 0 && wait <= 30, String(wait));
    const ttl = await redis.ttl(`${prefix}addr:z`);
    assert.ok(ttl > 0 && ttl <= 30, String(ttl));
  });
});

Deno.test("RateLimiter refuses a non-positive window or limit", async () => {
  assert.throws(() => new RateLimiter({} as never, "x", { windowSeconds: 0 }), RangeError);
  await assert.rejects(
    new RateLimiter({} as never, "x").take([{ key: "k", limit: 0 }]),
    RangeError,
  );
});
