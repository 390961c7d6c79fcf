import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { signWebhook } from "./webhook_signature.ts";

Deno.test("signWebhook() is t=<unix>,v1=<hex HMAC-SHA256 of 't.body'> under the secret", async () => {
  const body = '{"id":"x","event":"operation.completed","note":"ünïcode"}';
  const expected = createHmac("sha256", "whsec_abc").update(`1700000000.${body}`, "utf8")
    .digest("hex");
  assert.equal(
    await signWebhook("whsec_abc", { body, timestamp: 1700000000 }),
    `t=1700000000,v1=${expected}`,
  );
  const other = await signWebhook("whsec_abd", { body, timestamp: 1700000000 });
  assert.notEqual(other, `t=1700000000,v1=${expected}`);
});

Deno.test("signWebhook() signs with the current time by default and refuses a bad timestamp", async () => {
  const before = Math.floor(Date.now() / 1000);
  const sig = await signWebhook("s", { body: "{}" });
  const t = Number(/^t=(\d+),/.exec(sig)?.[1]);
  assert.ok(t >= before && t <= Math.floor(Date.now() / 1000), sig);
  await assert.rejects(signWebhook("s", { body: "{}", timestamp: 1.5 }), RangeError);
});
