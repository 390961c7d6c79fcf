import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limiter.ts";
import { withTestRedis } from "../testing/redis.ts";

Deno.test("RateLimiter blocks past the limit, says when to retry, and resets", async () => {
  await withTestRedis(async ({ redis, prefix }) => {
    const rl = new RateLimiter(redis, prefix, { limit: 3, windowSeconds: 60 });
    assert.equal(await rl.retryAfter("user:alice"), 0);
    for (let i = 0; i < 3; i++) await rl.hit("user:alice");
    const wait = await rl.retryAfter("user:alice");
    assert.ok(wait > 0 && wait <= 60, String(wait));
    assert.equal(await rl.retryAfter("user:bob"), 0);
    await rl.reset("user:alice");
    assert.equal(await rl.retryAfter("user:alice"), 0);
  });
});

Deno.test("RateLimiter refuses a non-positive limit", () => {
  assert.throws(() => new RateLimiter({} as never, "x", { limit: 0 }), RangeError);
});
