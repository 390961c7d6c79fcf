/**
 * The dashboard in a real browser (Debian chromium driven by playwright-core) against the whole
 * system (`scripts/dev.ts` as a process): register, log in, create a collection over a directory,
 * watch its bar reach 100%, search and see the expected hit, cancel a long operation and see it
 * end cancelled. A screenshot is saved under test-artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type WebSocketRoute } from "playwright-core";
import {
  OPERATION_MS,
  PROCESS_START_MS,
  testModelsDir,
  testRedisUrl,
  WAIT_MS,
  waitFor,
} from "@semantik/shared/testing";
import { holdAnswer } from "./helpers/held_answer.ts";
import { spawnDeno } from "./helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";
const DEV = new URL("../scripts/dev.ts", import.meta.url).pathname;
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

const TERMINAL_ROWS =
  'tr[data-status="completed"], tr[data-status="failed"], tr[data-status="cancelled"]';

const TOPICS = {
  "cats.txt":
    "Cats are small domesticated felines. They purr, sleep most of the day and chase mice.",
  "markets.txt":
    "The stock market fell sharply today as investors sold technology shares and bonds.",
  "plants.txt":
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose inside their leaves.",
};

Deno.test({
  name:
    "dashboard: register, index with a live bar to 100%, documents with reasons, search, cancel and retry",
  ignore: !hasChromium,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "semantik-dash-" });
    const small = join(root, "small");
    const big = join(root, "big");
    await Deno.mkdir(small);
    await Deno.mkdir(big);
    for (const [name, text] of Object.entries(TOPICS)) {
      await Deno.writeTextFile(join(small, name), text);
    }
    await Deno.writeTextFile(join(small, "empty.txt"), "");
    // Enough text that indexing takes a while on CPU, so the test can cancel it mid-way, with
    // room to spare on a fast CPU (400 documents were once too few, or the cancel's answer took
    // the row back: a CI run waited in vain for "cancelled"; the checks after the cancel now say
    // which).
    const para = "Rivers carry sediment from mountains to the sea, shaping valleys over time. "
      .repeat(40);
    for (let i = 0; i < 1000; i++) {
      await Deno.writeTextFile(join(big, `doc-${i}.txt`), `${i}: ${para}`);
    }

    const proc = spawnDeno(DEV, {
      env: {
        PORT: "0",
        DATA_DIR: join(root, "data"),
        DOCUMENT_ROOTS: root,
        MODELS_DIR: testModelsDir(),
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: `test:dash:${crypto.randomUUID().slice(0, 8)}:`,
        // The retried operation is still running when the test stops the system.
        WORKER_SHUTDOWN_TIMEOUT_S: "1",
      },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const problems: string[] = [];
    try {
      // dev.ts starts PGlite, migrates and starts three roles before it listens: several process
      // starts (on two shared cores under load it has taken over a minute).
      const [, url] = await proc.waitForLine(/api listening url=(\S+)/, 4 * PROCESS_START_MS);
      const page = await browser.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
      await page.goto(url!);

      await page.fill("#username", "alice");
      await page.fill("#password", "alice-password");
      await page.click("#register");
      await page.waitForSelector("#app:not(.hidden)");
      // Log out and in again: the login path on its own.
      await page.click("#logout");
      await page.waitForSelector("#auth:not(.hidden)");
      await page.fill("#username", "alice");
      await page.fill("#password", "alice-password");
      // The page lists the collections as the session starts, then again once its socket opens.
      // That second list (empty: read now) is held until a newer one, asked for when the first
      // operation finishes, is shown: the older answer, arriving last, must not undo it.
      const olderList = await holdAnswer(page, "**/api/v2/collections?limit=100", { nth: 2 });
      await page.click("#login");
      await page.waitForSelector("#app:not(.hidden)");

      await page.fill("#c-name", "topics");
      await page.fill("#c-path", small);
      await page.click("#create");
      const done = page.locator('tr[data-status="completed"]');
      await done.waitFor({ timeout: 120_000 });
      assert.equal(await done.locator('[role="progressbar"]').getAttribute("aria-valuenow"), "100");
      const topicsReady = page.locator('#collections tr:has-text("topics") .status.ready');
      await topicsReady.waitFor();
      await olderList.release();
      assert.equal(
        await topicsReady.count(),
        1,
        `the older list, answered last, undid the newer one: ${await page.locator("#collections")
          .innerText()}`,
      );

      // The collection's documents, each with its status, and the reason for the one skipped.
      await page.locator("#collections button[data-open]").first().click();
      await page.locator("#documents tr").nth(3).waitFor();
      assert.equal(await page.locator("#documents tr").count(), 4);
      assert.equal(await page.locator("#documents .status.completed").count(), 3);
      const skipped = page.locator("#documents tr:has(.status.skipped)");
      assert.match((await skipped.textContent()) ?? "", /empty\.txt[\s\S]*file is empty/);

      // A first search whose answer is held, then the one the user meant: when the first answer
      // arrives last, the results stay those of the last search asked for.
      const firstSearch = await holdAnswer(page, "**/api/v2/search", { method: "POST" });
      await page.fill("#search-query", "stock market shares and bonds");
      await page.click('#search-form button[type="submit"]');
      await page.fill("#search-query", "how do plants use sunlight");
      await page.click('#search-form button[type="submit"]');
      const first = page.locator(".result").first();
      await first.waitFor();
      assert.match((await first.textContent()) ?? "", /plants\.txt/);
      await firstSearch.release();
      assert.match(
        (await first.textContent()) ?? "",
        /plants\.txt/,
        "the earlier search, answered last, replaced the results of the last one",
      );
      assert.ok(await first.locator("mark").count() > 0, "query words are highlighted");

      // The cancel's answer ("processing", cancel requested) is held until the worker's
      // "cancelled" frame has reached the page, so the two cross as they can on a busy machine:
      // the page must keep showing "cancelled".
      const cancelAnswer = await holdAnswer(page, "**/api/v2/operations/*", { method: "DELETE" });

      await page.fill("#c-name", "rivers");
      await page.fill("#c-path", big);
      await page.click("#create");
      const running = page.locator('tr[data-status="processing"]');
      await running.waitFor({ timeout: 120_000 });
      const rivers = page.locator(`tr[data-operation="${await running.getAttribute(
        "data-operation",
      )}"]`);
      await rivers.locator("button[data-cancel]").click();
      // Until it ends, whichever way, then say how it ended.
      await rivers.and(page.locator(TERMINAL_ROWS)).waitFor({ timeout: OPERATION_MS }).catch(
        async (err) => {
          throw new Error(`the cancelled operation did not end: ${await rivers.innerText()}`, {
            cause: err,
          });
        },
      );
      assert.equal(
        await rivers.getAttribute("data-status"),
        "cancelled",
        `the operation cancelled mid-way ended otherwise: ${await rivers.innerText()}`,
      );
      await cancelAnswer.release();
      assert.equal(
        await rivers.getAttribute("data-status"),
        "cancelled",
        `the cancel's answer, arriving after the cancelled frame, took the row back: ${await rivers
          .innerText()}`,
      );
      // Retry makes a new operation of the same type, which starts again.
      await rivers.locator("button[data-retry]").click();
      await page.locator(
        'tr[data-status="pending"]:has-text("rivers"), tr[data-status="processing"]:has-text("rivers")',
      ).first().waitFor({ timeout: 120_000 });

      // Two collections opened one after the other with both lists of documents held: the
      // first one's, arriving while the second is open and before its own, must not show under
      // the second's title.
      const collectionId = async (name: string) =>
        await page.locator("#collections tr[data-collection]", { hasText: name }).getAttribute(
          "data-collection",
        );
      const [riversId, topicsId] = [await collectionId("rivers"), await collectionId("topics")];
      const documentsOf = (id: string | null) => `**/api/v2/collections/${id}/documents?limit=100`;
      const riversDocs = await holdAnswer(page, documentsOf(riversId));
      const topicsDocs = await holdAnswer(page, documentsOf(topicsId));
      await page.locator(`#collections button[data-open="${riversId}"]`).first().click();
      await riversDocs.made();
      const loading = await page.locator("#documents").innerText();
      assert.doesNotMatch(
        loading,
        /plants\.txt/,
        `the documents of the collection open before stayed under the title of the one opened: ${
          loading.slice(0, 200)
        }`,
      );
      await page.locator(`#collections button[data-open="${topicsId}"]`).first().click();
      await topicsDocs.made();
      await riversDocs.release();
      const shown = await page.locator("#documents").innerText();
      assert.match(await page.locator("#detail-title").innerText(), /^topics/);
      assert.doesNotMatch(
        shown,
        /doc-\d+\.txt/,
        "the documents of the collection opened first, answered after another was opened, " +
          `showed under its title: ${shown.slice(0, 200)}`,
      );
      await topicsDocs.release();
      await page.locator("#documents tr", { hasText: "plants.txt" }).waitFor({ timeout: WAIT_MS });
      assert.equal(await page.locator("#documents tr").count(), 4);

      // A frame takes a finished operation back to pending, as the server announces a dead
      // letter's requeue (`OPERATION_PROGRESS`, message "Requeued"): a second page of the same
      // session (its stored login), its socket passed through a route that adds that frame,
      // shows it (no failed job is staged here: the page's rule treats every finished status
      // alike, and the frame is the one API.md gives for a requeue).
      const cancelledId = await rivers.getAttribute("data-operation");
      const watcherContext = await browser.newContext({
        storageState: await page.context().storageState(),
      });
      const watcher = await watcherContext.newPage();
      let socket: WebSocketRoute | undefined;
      await watcher.routeWebSocket("**/ws/operations", (ws) => {
        ws.connectToServer();
        socket = ws;
      });
      watcher.on("pageerror", (e) => problems.push(`watcher: ${e.message}`));
      // The operations lists the page asks for (as the session starts, and again as its socket
      // opens): the frame goes in once they are all in, so that none lands after it.
      const lists: Promise<unknown>[] = [];
      watcher.on("request", (r) => {
        if (r.method() === "GET" && r.url().includes("/api/v2/operations?")) {
          lists.push(r.response().then((res) => res?.finished()));
        }
      });
      await watcher.goto(page.url());
      const row = watcher.locator(`tr[data-operation="${cancelledId}"]`);
      await row.and(watcher.locator('tr[data-status="cancelled"]')).waitFor({ timeout: WAIT_MS });
      await watcher.locator("#live-state", { hasText: "live" }).waitFor({ timeout: WAIT_MS });
      assert.ok(socket, "the watcher's socket went through the route");
      await waitFor("the watcher's two operations lists", () => lists.length >= 2, {
        seen: () => `${lists.length} asked`,
      });
      await Promise.all(lists);
      await watcher.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
      socket.send(JSON.stringify({
        type: "OPERATION_PROGRESS",
        event_id: Number.MAX_SAFE_INTEGER,
        operation_id: cancelledId,
        collection_id: riversId,
        operation_type: "index",
        status: "pending",
        progress: 0,
        message: "Requeued",
        metadata: {},
        error_message: null,
        timestamp: new Date().toISOString(),
      }));
      await row.and(watcher.locator('tr[data-status="pending"]')).waitFor({ timeout: WAIT_MS })
        .catch(async (err) => {
          throw new Error(
            `a frame taking the finished operation back to pending did not move its row: ${await row
              .innerText()}`,
            { cause: err },
          );
        });
      await watcherContext.close();

      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
      assert.deepEqual(problems, [], "the browser console stays clean");
    } finally {
      await browser.close();
      await proc.stop("SIGINT");
      await proc.stop("SIGKILL");
      await Deno.remove(root, { recursive: true });
    }
  },
});
