import assert from "node:assert/strict";
import { hasBinary, startPrivateRedis } from "./private_server.ts";
import { pingRedis } from "./redis.ts";

Deno.test({
  name: "startPrivateRedis() starts an answering server and stop() ends it",
  ignore: !(await hasBinary("redis-server")),
  async fn() {
    const r = await startPrivateRedis();
    try {
      assert.equal(await pingRedis(r.url), true);
    } finally {
      await r.stop();
    }
    assert.equal(await pingRedis(r.url, 200), false);
  },
});

Deno.test("hasBinary() says false for a missing program", async () => {
  assert.equal(await hasBinary("definitely-not-a-real-binary-xyz"), false);
});
