import assert from "node:assert/strict";
import { createRedis, KeySpace, pingRedis, reconnectDelay } from "./redis.ts";
import { withTestRedis } from "../testing/redis.ts";

Deno.test("KeySpace.key() prefixes every key explicitly", () => {
  const k = new KeySpace("semantik:");
  assert.equal(k.key("{q:default}", "stream"), "semantik:{q:default}:stream");
});

Deno.test("reconnectDelay() grows, is capped and jittered", () => {
  for (let a = 0; a < 20; a++) {
    const d = reconnectDelay(a);
    assert.ok(d >= 0 && d <= 2000, String(d));
  }
  assert.ok(reconnectDelay(10) >= 1000);
});

Deno.test("createRedis() names its connection and works with prefixed stream commands", async () => {
  await withTestRedis(async ({ url, prefix }) => {
    const keys = new KeySpace(prefix);
    const r = createRedis(url, { name: "test-conn" });
    try {
      const stream = keys.key("s");
      await r.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
      await r.xadd(stream, "*", "f", "v");
      assert.equal(await r.xlen(stream), 1);
      assert.equal(await r.client("GETNAME"), "test-conn");
    } finally {
      r.disconnect();
    }
  });
});

Deno.test("pingRedis() says false when nothing answers", async () => {
  assert.equal(await pingRedis("redis://127.0.0.1:1", 200), false);
});
