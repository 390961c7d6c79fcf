/**
 * The dashboard's webhooks panel in a real browser (Debian chromium driven by playwright-core)
 * against the whole system (`scripts/dev.ts` as a process): a private target refused with its
 * reason, a webhook created with its secret shown once and copied, an operation ending that is
 * delivered to a receiver this test serves (its signature checked with the copied secret), the
 * delivery listed as succeeded, and the webhook deleted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { testModelsDir, testRedisUrl, waitFor } from "@semantik/shared/testing";
import { spawnDeno } from "./helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";
const DEV = new URL("../scripts/dev.ts", import.meta.url).pathname;
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

async function hmacHex(secret: string, text: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "dashboard: webhooks panel creates (secret shown once, copied), lists deliveries, deletes",
  ignore: !hasChromium,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "semantik-dash-hooks-" });
    const received: { headers: Headers; body: string }[] = [];
    const ac = new AbortController();
    const receiver = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      async (req) => {
        received.push({ headers: req.headers, body: await req.text() });
        return new Response("ok");
      },
    );
    const hookUrl = `http://127.0.0.1:${receiver.addr.port}/hook`;
    const proc = spawnDeno(DEV, {
      env: {
        PORT: "0",
        DATA_DIR: join(root, "data"),
        DOCUMENT_ROOTS: root,
        MODELS_DIR: testModelsDir(),
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: `test:dash-hooks:${crypto.randomUUID().slice(0, 8)}:`,
        WEBHOOK_ALLOW_PRIVATE: "true",
        WEBHOOK_RETRY_DELAY_MS: "100",
        WORKER_SHUTDOWN_TIMEOUT_S: "1",
      },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const problems: string[] = [];
    try {
      const [, url] = await proc.waitForLine(/api listening url=(\S+)/);
      const context = await browser.newContext();
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url! });
      const page = await context.newPage();
      page.on("console", (m) => {
        // The refused create is a 400 the browser logs as a failed resource load.
        if (m.type() === "error" && !/status of 400/.test(m.text())) {
          problems.push(`console: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
      await page.goto(url!);
      await page.fill("#username", "hooker");
      await page.fill("#password", "hooker-password");
      await page.click("#register");
      await page.waitForSelector("#app:not(.hidden)");
      await page.locator("#webhooks td.muted").filter({ hasText: "No webhooks yet" }).waitFor();

      // A refused target: the panel shows the API's reason and no secret.
      await page.fill("#wh-url", "ftp://example.com/hook");
      await page.click("#wh-create");
      await page.locator("#wh-error").filter({ hasText: "must be http or https" }).waitFor();
      assert.equal(await page.locator("#wh-secret.hidden").count(), 1, "no secret shown");

      await page.fill("#wh-url", hookUrl);
      await page.check("#wh-ev-cancelled");
      await page.uncheck("#wh-ev-failed");
      await page.click("#wh-create");
      await page.waitForSelector("#wh-secret:not(.hidden)");
      const secret = (await page.locator("#wh-secret-value").textContent()) ?? "";
      assert.match(secret, /^whsec_[0-9a-f]{64}$/);
      await page.click("#wh-copy");
      await page.locator("#wh-copy").filter({ hasText: "Copied" }).waitFor();
      assert.equal(
        await page.evaluate(() =>
          (navigator as unknown as { clipboard: { readText(): Promise<string> } }).clipboard
            .readText()
        ),
        secret,
      );
      const row = page.locator(`#webhooks tr:has-text("${hookUrl}")`);
      await row.waitFor();
      assert.match(
        (await row.textContent()) ?? "",
        /operation\.completed[\s\S]*operation\.cancelled/,
      );
      assert.doesNotMatch((await row.textContent()) ?? "", /operation\.failed/);
      await page.click("#wh-secret-done");
      assert.equal(await page.locator("#wh-secret-value").textContent(), "");
      // Shown once: after a reload the list has the webhook and no secret anywhere.
      await page.reload();
      await row.waitFor();
      assert.ok(!((await page.content()).includes(secret)), "the secret is not shown again");

      // A collection deleted: its `delete` operation completes and is delivered.
      const opId = await page.evaluate(async () => {
        const token = localStorage.getItem("semantik.token");
        const h = { authorization: `Bearer ${token}`, "content-type": "application/json" };
        const made = await fetch("/api/v2/collections", {
          method: "POST",
          headers: h,
          body: JSON.stringify({ name: "to-delete" }),
        }).then((r) => r.json());
        const del = await fetch(`/api/v2/collections/${made.collection.id}`, {
          method: "DELETE",
          headers: h,
        }).then((r) => r.json());
        return del.operation.id as string;
      });
      await row.locator("button[data-deliveries]").click();
      await page.waitForSelector("#wh-deliveries:not(.hidden)");
      const delivered = page.locator('#wh-delivery-rows tr[data-status="succeeded"]');
      // The panel shows what the API says when asked: refresh until the delivery is recorded.
      await waitFor("the delivery to show as succeeded", async () => {
        await page.click("#wh-refresh");
        return (await delivered.count()) === 1;
      }, { timeoutMs: 30_000 });
      assert.match((await delivered.textContent()) ?? "", new RegExp(opId));
      assert.match((await delivered.textContent()) ?? "", /operation\.completed/);
      assert.equal(received.length, 1);
      const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(
        received[0]!.headers.get("x-semantik-signature") ?? "",
      );
      assert.ok(sig);
      assert.equal(sig[2], await hmacHex(secret, `${sig[1]}.${received[0]!.body}`));

      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard_webhooks.png"), fullPage: true });

      await row.locator("button[data-delete]").click();
      await page.locator("#webhooks td.muted").filter({ hasText: "No webhooks yet" }).waitFor();
      assert.ok(await page.locator("#wh-deliveries.hidden").count() === 1);
      assert.deepEqual(problems, [], "the browser console stays clean");
    } finally {
      await browser.close();
      await proc.stop("SIGINT");
      await proc.stop("SIGKILL");
      ac.abort();
      await receiver.finished;
      await Deno.remove(root, { recursive: true });
    }
  },
});
