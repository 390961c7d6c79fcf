/**
 * The dashboard's API keys panel in a real browser (Debian chromium driven by playwright-core)
 * against a served API: create a read key, see its secret once and copy it, use it, see it listed
 * without the secret (and not again after a reload), revoke it and see it refused.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createWsTestEnv, type WsTestEnv } from "./ws_env.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

async function status(env: WsTestEnv, path: string, method: string, key: string) {
  const res = await fetch(env.server.url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: method === "POST" ? JSON.stringify({ name: "from-browser-key" }) : undefined,
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name: "dashboard: create an API key, copy it once, use it, revoke it",
  ignore: !hasChromium,
  async fn() {
    const env = await createWsTestEnv();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const problems: string[] = [];
    try {
      const user = await env.user();
      const context = await browser.newContext();
      await context.grantPermissions(["clipboard-read", "clipboard-write"], {
        origin: env.server.url,
      });
      // Logged in: the dashboard reads its token from localStorage.
      await context.addInitScript((token: string) => {
        localStorage.setItem("semantik.token", token);
      }, user.token);
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
      await page.goto(env.server.url);
      await page.waitForSelector("#app:not(.hidden)");
      await page.locator("#ak-list:has-text('No API keys yet')").waitFor();

      await page.fill("#ak-name", "laptop");
      await page.fill("#ak-expires", "7");
      await page.click("#ak-create");
      const shown = page.locator("#ak-new:not(.hidden) #ak-new-key");
      await shown.waitFor();
      const key = (await shown.textContent()) ?? "";
      assert.match(key, /^sk_sem_[0-9A-Za-z]{43}$/);
      await page.click("#ak-copy");
      await page.locator("#ak-copy:has-text('Copied')").waitFor();
      // Runs in the page (a browser's navigator, which Deno's types do not describe).
      const clipboard = await page.evaluate(() =>
        (navigator as unknown as { clipboard: { readText(): Promise<string> } }).clipboard
          .readText()
      );
      assert.equal(clipboard, key);

      const row = page.locator('#ak-list tr:has-text("laptop")');
      await row.waitFor();
      const rowText = (await row.textContent()) ?? "";
      assert.match(rowText, /\bread\b/);
      assert.doesNotMatch(rowText, /write/);
      assert.ok(!rowText.includes(key), "the list shows the prefix, not the key");

      // The key reads but does not write (the write box was left unchecked).
      assert.equal(await status(env, "/api/v2/collections", "GET", key), 200);
      assert.equal(await status(env, "/api/v2/collections", "POST", key), 403);

      // Shown once: after a reload, the key is listed but its secret is nowhere on the page.
      await page.reload();
      await row.waitFor();
      assert.ok(await page.locator("#ak-new").evaluate((e) => e.classList.contains("hidden")));
      assert.ok(!(await page.content()).includes(key));

      await row.locator("button[data-revoke]").click();
      await page.locator("#ak-list:has-text('No API keys yet')").waitFor();
      assert.equal(await status(env, "/api/v2/collections", "GET", key), 401);
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await browser.close();
      await env.cleanup();
    }
  },
});
