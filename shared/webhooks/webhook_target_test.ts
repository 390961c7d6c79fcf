import assert from "node:assert/strict";
import { checkWebhookTarget, WebhookTargetError } from "./webhook_target.ts";

const noDns = () => Promise.reject(new Error("no DNS in this test"));

Deno.test("checkWebhookTarget() refuses loopback and private IP literals and localhost", async (t) => {
  for (
    const url of [
      "http://127.0.0.1:8080/x",
      "http://10.0.0.5/x",
      "https://192.168.1.1/x",
      "http://[::1]/x",
      "http://[fd00::1]/x",
      "http://[::ffff:10.0.0.1]/x",
      "http://169.254.169.254/latest/meta-data",
      "http://localhost:3000/x",
      "http://api.localhost/x",
    ]
  ) {
    await t.step(url, async () => {
      await assert.rejects(
        checkWebhookTarget(url, { resolveHost: noDns }),
        (err: Error) =>
          err instanceof WebhookTargetError && /WEBHOOK_ALLOW_PRIVATE=true/.test(err.message),
      );
    });
  }
});

Deno.test("checkWebhookTarget() refuses a name when any of its addresses is private", async () => {
  const resolveHost = (h: string) =>
    Promise.resolve(h === "mixed.example" ? ["93.184.216.34", "10.1.1.1"] : []);
  await assert.rejects(
    checkWebhookTarget("https://mixed.example/hook", { resolveHost }),
    /mixed\.example resolves to 10\.1\.1\.1, a loopback or private-network address/,
  );
  await assert.rejects(
    checkWebhookTarget("https://nothing.example/hook", { resolveHost }),
    /Cannot resolve webhook host nothing\.example/,
  );
  await assert.rejects(
    checkWebhookTarget("https://down.example/hook", { resolveHost: noDns }),
    /Cannot resolve webhook host down\.example: no DNS in this test/,
  );
});

Deno.test("checkWebhookTarget() accepts public targets and pins the checked address for http only", async () => {
  const resolveHost = () => Promise.resolve(["93.184.216.34"]);
  const plain = await checkWebhookTarget("http://hooks.example:8080/in", { resolveHost });
  assert.equal(plain.pinnedAddress, "93.184.216.34");
  assert.equal(plain.url.host, "hooks.example:8080");
  const tls = await checkWebhookTarget("https://hooks.example/in", { resolveHost });
  assert.equal(tls.pinnedAddress, undefined);
  const literal = await checkWebhookTarget("http://8.8.8.8/in", { resolveHost: noDns });
  assert.equal(literal.pinnedAddress, "8.8.8.8");
});

Deno.test("checkWebhookTarget() with allowPrivate skips the address checks but not the scheme", async () => {
  const ok = await checkWebhookTarget("http://127.0.0.1:9/x", {
    allowPrivate: true,
    resolveHost: noDns,
  });
  assert.equal(ok.pinnedAddress, undefined);
  await assert.rejects(
    checkWebhookTarget("ftp://127.0.0.1/x", { allowPrivate: true }),
    /must be http or https, got ftp:/,
  );
  await assert.rejects(checkWebhookTarget("not a url", { allowPrivate: true }), /is not a URL/);
});
