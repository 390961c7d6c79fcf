/**
 * Managing a collection end to end in the dashboard, in a real browser (Debian chromium driven by
 * playwright-core) 390 px wide, against the whole system (`scripts/dev.ts` as a process): settings,
 * sync pause and resume, sources added (with a preview) and removed, the request each source form
 * sends, reindex with another model, the document viewer (from the documents list and from a search
 * hit), per-document retry and retry-failed, sync runs, operation filters, bulk cancel and the ETA
 * of a running operation. Every step drives the page by label and role, as a person would, and
 * checks the page never scrolls sideways. Screenshots go to test-artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Request } from "playwright-core";
import {
  OPERATION_MS,
  PROCESS_START_MS,
  testModelsDir,
  testRedisUrl,
  waitFor,
  writeTinyModel,
} from "@semantik/shared/testing";
import { holdAnswer } from "./helpers/held_answer.ts";
import { spawnDeno } from "./helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";
const DEV = new URL("../scripts/dev.ts", import.meta.url).pathname;
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
const WIDTH = 390;

/** The documents of the first source: three that index, one corrupt PDF that fails. */
const NOTES: Record<string, string> = {
  "zebras.txt": "Zebras live on the African savanna and graze on tall grasses every day. " +
    "Their black and white stripes confuse biting flies and keep the animals cooler. " +
    "Foals can stand within an hour of birth and run with the herd soon after. " +
    "A zebra herd moves together across the plains to watch for lions.",
  "tides.txt": "Tides rise and fall twice a day, pulled by the moon and the sun.",
  "bread.txt": "Bread dough rises when yeast turns sugar into carbon dioxide.",
  "broken.pdf": "%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage\n",
};
/** The second source (added then removed): two text files and one the include glob leaves out. */
const EXTRA: Record<string, string> = {
  "comets.txt": "Comets grow tails of gas and dust near the sun.",
  "orbits.txt": "Planets follow elliptical orbits.",
  "skip.md": "Not included by the glob.",
};

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
}

Deno.test({
  name:
    "dashboard manage: settings, sources, reindex, viewer, retries, sync runs, filters, bulk cancel",
  ignore: !hasChromium,
  async fn(t) {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "semantik-manage-" }));
    const notes = join(root, "notes");
    const extra = join(root, "extra");
    const big = join(root, "big");
    await writeFiles(notes, NOTES);
    await writeFiles(extra, EXTRA);
    // Enough text that indexing takes a while on CPU, with room to spare on a fast one: the test
    // cancels it while it runs.
    const para = "Rivers carry sediment from mountains to the sea, shaping valleys over time. "
      .repeat(40);
    await writeFiles(
      big,
      Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`doc-${i}.txt`, `${i}: ${para}`])),
    );
    // The real default model (shared cache) and a tiny second model to reindex with.
    const models = join(root, "models");
    await Deno.mkdir(models);
    for await (const entry of Deno.readDir(testModelsDir())) {
      await Deno.symlink(join(testModelsDir(), entry.name), join(models, entry.name));
    }
    await writeTinyModel(join(models, "test", "tiny-bert"), { maxTokens: 256 });

    const proc = spawnDeno(DEV, {
      env: {
        PORT: "0",
        DATA_DIR: join(root, "data"),
        DOCUMENT_ROOTS: root,
        MODELS_DIR: models,
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: `test:manage:${crypto.randomUUID().slice(0, 8)}:`,
        WORKER_SHUTDOWN_TIMEOUT_S: "1",
        METRICS_PORT: "0",
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
      await page.setViewportSize({ width: WIDTH, height: 844 });
      page.on("console", (m) => {
        // Refused requests (the web source's 400, say) are shown on the page and checked there.
        if (m.type() === "error" && !/the server responded with a status of 4\d\d/.test(m.text())) {
          problems.push(`console: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
      await page.goto(url!);
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const shot = (name: string) =>
        page.screenshot({ path: join(ARTIFACTS, `manage-${name}.png`), fullPage: true });
      const noSideScroll = async (where: string) => {
        const width = await page.evaluate<number>("document.documentElement.scrollWidth");
        assert.ok(
          width <= WIDTH,
          `${where}: the page is ${width} px wide at a ${WIDTH} px viewport`,
        );
      };

      await page.getByLabel("Username").fill("bob");
      await page.getByLabel("Password").fill("bob-password");
      await page.getByRole("button", { name: "Register" }).click();
      await page.locator("#app:not(.hidden)").waitFor();
      const token = await page.evaluate(() => localStorage.getItem("semantik.token"));
      const get = async (path: string) => {
        const res = await fetch(new URL(path, url), {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200, `GET ${path}`);
        return await res.json();
      };
      const opRow = (type: string, status: string) =>
        page.locator(`#operations tr[data-type="${type}"][data-status="${status}"]`).first();

      const create = page.getByRole("form", { name: "New collection" });
      await create.getByLabel("Name", { exact: true }).fill("notes");
      await create.getByLabel("Directory (absolute path inside DOCUMENT_ROOTS)").fill(notes);
      // Small chunks, so that the viewer has boundaries to show.
      await create.getByLabel("Chunk size (tokens)").fill("24");
      await create.getByLabel("Chunk overlap").fill("4");
      await create.getByRole("button", { name: "Create" }).click();
      await opRow("index", "completed").waitFor({ timeout: OPERATION_MS });
      await noSideScroll("collections");
      const [collection] = (await get("/api/v2/collections")).collections;
      const cid: string = collection.id;

      await page.getByRole("button", { name: "Open notes" }).click();
      const detail = page.locator("#detail");
      await detail.getByRole("heading", { name: /notes/ }).waitFor();
      // Opening ends by moving focus to the title, after the documents load: keyboard steps
      // taken before it would have their focus moved under them.
      await waitFor(
        "the detail's title to take focus on opening",
        async () => (await page.evaluate<string>("document.activeElement?.id")) === "detail-title",
        {
          seen: () =>
            page.evaluate<string>(
              "`${document.activeElement?.id}: ${document.activeElement?.textContent}`",
            ),
        },
      );
      await noSideScroll("collection detail");

      // The steps share one page: after a failed step the rest would only wait out what it left
      // behind (a dialog still open, say), so they are skipped and the test fails at once.
      let failed = false;
      const step = async (name: string, fn: () => Promise<void>) => {
        if (!await t.step({ name, fn, ignore: failed })) failed = true;
      };

      await step("sync pause, settings (PATCH) while paused, resume", async () => {
        const pause = page.waitForRequest((r) => r.url().endsWith(`/${cid}/sync/pause`));
        // By keyboard: Tab from "Sync now" reaches "Pause sync", its focus ring shows, Enter.
        await detail.getByRole("button", { name: "Sync now" }).focus();
        await page.keyboard.press("Tab");
        assert.equal(
          await page.evaluate<string>("document.activeElement.textContent"),
          "Pause sync",
        );
        assert.equal(
          await page.evaluate<string>("getComputedStyle(document.activeElement).outlineStyle"),
          "solid",
        );
        await page.keyboard.press("Enter");
        assert.equal((await pause).method(), "POST");
        await detail.getByRole("button", { name: "Resume sync" }).waitFor();
        assert.equal((await get(`/api/v2/collections/${cid}`)).sync_paused, true);
        await page.locator("#collections .status", { hasText: "sync paused" }).waitFor();

        // Paused, so the scheduler starts no sync while the collection is continuous.
        await detail.getByLabel("Sync mode").selectOption("continuous");
        await detail.getByLabel("Sync interval (minutes)").fill("15");
        await detail.getByRole("button", { name: "Save settings" }).click();
        await detail.getByText("Settings saved.").waitFor();
        let c = await get(`/api/v2/collections/${cid}`);
        assert.equal(c.sync_mode, "continuous");
        assert.equal(c.sync_interval_minutes, 15);
        await page.locator("#detail-summary", { hasText: "sync every 15 min (paused)" }).waitFor();
        await detail.getByLabel("Sync mode").selectOption("one_time");
        await detail.getByRole("button", { name: "Save settings" }).click();
        await page.locator("#detail-summary", { hasText: "sync one time" }).waitFor();
        c = await get(`/api/v2/collections/${cid}`);
        assert.equal(c.sync_mode, "one_time");
        assert.equal(c.sync_interval_minutes, 15);

        await detail.getByRole("button", { name: "Resume sync" }).click();
        await detail.getByRole("button", { name: "Pause sync" }).waitFor();
        assert.equal((await get(`/api/v2/collections/${cid}`)).sync_paused, false);
      });

      await step("a directory source: preview, add, then remove (Escape keeps it)", async () => {
        await detail.getByLabel("Source type").selectOption("directory");
        await detail.getByLabel("Directory path").fill(extra);
        await detail.getByLabel("Include globs (comma-separated)", { exact: true }).fill(
          "**/*.txt",
        );
        const preview = page.waitForRequest((r) => r.url().endsWith("/api/v2/sources/preview"));
        await detail.getByRole("button", { name: "Preview source" }).click();
        assert.deepEqual((await preview).postDataJSON(), {
          source: { type: "directory", path: extra, include: ["**/*.txt"] },
        });
        // Two .txt files (the .md is not included), 80 bytes in all.
        const bytes = EXTRA["comets.txt"]!.length + EXTRA["orbits.txt"]!.length;
        await page.locator("#source-preview", { hasText: `2 files, ${bytes} B (.txt: 2)` })
          .waitFor();
        await noSideScroll("source preview");
        const add = page.waitForRequest((r) => r.url().endsWith(`/${cid}/sources`));
        await detail.getByRole("button", { name: "Add source" }).click();
        assert.deepEqual((await add).postDataJSON(), {
          type: "directory",
          path: extra,
          include: ["**/*.txt"],
        });
        await opRow("append", "completed").waitFor({ timeout: OPERATION_MS });
        const sources = page.locator("#sources tr[data-source]");
        await waitFor("two sources listed", async () => (await sources.count()) === 2);
        await page.locator("#documents tr", { hasText: "comets.txt" }).waitFor();
        assert.equal(await page.locator("#documents tr", { hasText: "skip.md" }).count(), 0);

        const remove = detail.getByRole("button", { name: `Remove source ${extra}` });
        await remove.click();
        const confirm = page.getByRole("dialog");
        await confirm.getByText(`Remove the source ${extra}`).waitFor();
        await page.keyboard.press("Escape");
        await confirm.waitFor({ state: "hidden" });
        assert.equal(await sources.count(), 2, "Escape keeps the source");
        await remove.click();
        await confirm.getByRole("button", { name: "Remove source" }).click();
        await opRow("remove_source", "completed").waitFor({ timeout: OPERATION_MS });
        await waitFor("one source listed", async () => (await sources.count()) === 1);
      });

      await step("git and web sources: the form sends exactly the API's Source", async () => {
        const sent: unknown[] = [];
        const record = (r: Request) => {
          if (r.method() === "POST" && /\/sources(\/preview)?$/.test(r.url())) {
            sent.push(r.postDataJSON());
          }
        };
        // In a collection of their own: the remote and the site cannot be reached from here, so
        // whatever the operations they start do, they keep no other collection busy.
        const create = page.getByRole("form", { name: "New collection" });
        await create.getByLabel("Name", { exact: true }).fill("forms");
        await create.getByRole("button", { name: "Create" }).click();
        await page.getByRole("button", { name: "Open forms" }).click();
        await detail.getByRole("heading", { name: /forms/ }).waitFor();
        page.on("request", record);
        // The answer (accepted, or refused where the remote cannot be reached) shows under the
        // form before the next one is filled in.
        const answered = async (location: string) => {
          const res = await page.waitForResponse((r) =>
            r.request().method() === "POST" && /\/collections\/[^/]+\/sources$/.test(r.url())
          );
          if (res.status() === 202) {
            await page.locator("#source-preview", { hasText: `Adding ${location}` }).waitFor();
          } else {
            await page.locator("#source-preview .error").waitFor();
          }
        };
        await detail.getByLabel("Source type").selectOption("git");
        await detail.getByLabel("Repository URL").fill("https://git.example.com/team/handbook.git");
        await detail.getByLabel("Branch, tag or commit").fill("main");
        const token = detail.getByLabel("Access token");
        assert.equal(await token.getAttribute("type"), "password");
        await token.fill("s3cret");
        await detail.getByLabel("Include globs (comma-separated)", { exact: true }).fill(
          "docs/**, *.md",
        );
        await detail.getByLabel("Exclude globs (comma-separated)").fill("drafts/**");
        await detail.getByRole("button", { name: "Preview source" }).click();
        const gitAnswer = answered("https://git.example.com/team/handbook.git");
        await detail.getByRole("button", { name: "Add source" }).click();
        await waitFor("the git preview and add requests", () => sent.length === 2, {
          seen: () => sent,
        });
        const git = {
          type: "git",
          url: "https://git.example.com/team/handbook.git",
          ref: "main",
          include: ["docs/**", "*.md"],
          exclude: ["drafts/**"],
          token: "s3cret",
        };
        assert.deepEqual(sent, [{ source: git }, git]);
        await gitAnswer;

        sent.length = 0;
        await detail.getByLabel("Source type").selectOption("web");
        await detail.getByLabel("Start URL").fill("https://example.com/guide/");
        await detail.getByLabel("Max pages").fill("50");
        await detail.getByLabel("Max depth").fill("2");
        await detail.getByLabel("Include globs (comma-separated)", { exact: true }).fill("");
        await detail.getByLabel("Exclude globs (comma-separated)").fill("old/**");
        await detail.getByRole("button", { name: "Preview source" }).click();
        const webAnswer = answered("https://example.com/guide/");
        await detail.getByRole("button", { name: "Add source" }).click();
        await waitFor("the web preview and add requests", () => sent.length === 2, {
          seen: () => sent,
        });
        const web = {
          type: "web",
          url: "https://example.com/guide/",
          max_pages: 50,
          max_depth: 2,
          exclude: ["old/**"],
        };
        assert.deepEqual(sent, [{ source: web }, web]);
        await webAnswer;
        page.off("request", record);
        await shot("sources");
        await noSideScroll("source forms");
        await page.getByRole("button", { name: "Open notes" }).click();
        await detail.getByRole("heading", { name: /notes/ }).waitFor();
      });

      await step("document viewer from the documents list, by keyboard", async () => {
        // A document opened and closed while its text loads, then the one wanted: the first
        // text, answered last, must not replace the second (its answer is held until then).
        const firstText = await holdAnswer(page, "**/api/v2/collections/*/documents/*/content");
        await detail.getByRole("button", { name: "View tides.txt" }).click();
        await page.getByRole("dialog").waitFor();
        await page.keyboard.press("Escape");
        await page.getByRole("dialog").waitFor({ state: "hidden" });

        const view = detail.getByRole("button", { name: "View zebras.txt" });
        await view.focus();
        await page.keyboard.press("Enter");
        const viewer = page.getByRole("dialog", { name: "zebras.txt" });
        await viewer.waitFor();
        const chunks = viewer.locator(".chunk");
        await chunks.first().waitFor();
        assert.ok(await chunks.count() > 1, "chunks of 24 tokens cut the document in several");
        assert.match(await chunks.first().locator(".chunk-label").innerText(), /^Chunk 0 · /);
        // Every sentence of the document is in some chunk.
        const shown = (await chunks.allInnerTexts()).join(" ");
        for (const sentence of NOTES["zebras.txt"]!.split(/(?<=\.) /)) {
          assert.ok(shown.includes(sentence.slice(0, 20)), `viewer shows "${sentence}"`);
        }
        await firstText.release();
        assert.equal(
          await page.locator("#doc-title").innerText(),
          "zebras.txt",
          "the document closed while loading, answered last, replaced the one open",
        );
        await noSideScroll("viewer");
        await shot("viewer");
        await page.keyboard.press("Escape");
        await viewer.waitFor({ state: "hidden" });
        assert.equal(
          await page.evaluate<string>('document.activeElement?.getAttribute("aria-label")'),
          "View zebras.txt",
          "focus returns to the button that opened the viewer",
        );
      });

      await step("document viewer from a search hit, the hit marked", async () => {
        await page.getByLabel("Query").fill("lions");
        await page.getByLabel("Retrieval").selectOption("lexical");
        await page.getByRole("button", { name: "Search", exact: true }).click();
        const hit = page.getByRole("button", { name: /^View zebras\.txt at chunk \d+$/ });
        await hit.first().waitFor();
        const label = await hit.first().getAttribute("aria-label");
        const chunk = Number(label!.match(/chunk (\d+)$/)![1]);
        await hit.first().click();
        const viewer = page.getByRole("dialog", { name: "zebras.txt" });
        const marked = viewer.locator(`.chunk.hit[data-chunk="${chunk}"]`);
        await marked.waitFor();
        assert.equal(await marked.locator("mark").first().innerText(), "lions");
        assert.equal(await viewer.locator(".chunk.hit").count(), 1);
        await shot("viewer-hit");
        await viewer.getByRole("button", { name: "Close" }).click();
        await viewer.waitFor({ state: "hidden" });
      });

      await step("retry one failed document, then every failed one", async () => {
        const finished = (id: string) =>
          waitFor(`operation ${id} to finish`, async () => {
            const op = await get(`/api/v2/operations/${id}`);
            return ["completed", "failed", "cancelled"].includes(op.status) ? op : undefined;
          }, { timeoutMs: OPERATION_MS });
        const failed = page.locator("#documents tr", { hasText: "broken.pdf" });
        await failed.locator(".status.failed").waitFor();
        const doc = (await get(`/api/v2/collections/${cid}/documents?status=failed`)).documents[0];
        const one = page.waitForRequest((r) => r.url().endsWith(`/documents/${doc.id}/retry`));
        await detail.getByRole("button", { name: "Retry broken.pdf" }).click();
        assert.equal((await one).method(), "POST");
        assert.equal(
          new URL((await one).url()).pathname,
          `/api/v2/collections/${cid}/documents/${doc.id}/retry`,
        );
        const oneRes = await (await one).response();
        assert.equal(oneRes?.status(), 202);
        const retried = (await oneRes!.json()).operation;
        await page.locator(`#operations tr[data-operation="${retried.id}"]`).waitFor();
        await finished(retried.id);
        const all = page.waitForRequest((r) => r.url().endsWith(`/${cid}/documents/retry-failed`));
        await detail.getByRole("button", { name: "Retry failed documents" }).click();
        assert.equal((await all).method(), "POST");
        const allRes = await (await all).response();
        assert.equal(allRes?.status(), 202);
        const again = (await allRes!.json()).operation;
        await page.locator(`#operations tr[data-operation="${again.id}"]`).waitFor();
        await finished(again.id);
        // The corrupt PDF fails again: its row keeps its reason, the document is not lost.
        await page.locator("#documents tr", { hasText: "broken.pdf" }).locator(".status.failed")
          .waitFor();
      });

      await step("sync now: a run in the sync history", async () => {
        // The last step's retry may still be running: wait for the collection to be free.
        await waitFor(
          "the collection to be ready",
          async () => (await get(`/api/v2/collections/${cid}`)).status === "ready",
          { timeoutMs: OPERATION_MS },
        );
        await detail.getByRole("button", { name: "Sync now" }).click();
        await opRow("sync", "completed").waitFor({ timeout: OPERATION_MS });
        const runs = page.locator("#sync-runs tr");
        await runs.filter({ hasText: "user" }).filter({ hasText: "completed" }).first().waitFor();
      });

      await step("reindex with another model and chunking", async () => {
        // The choice is GET /api/v2/models: the default model and the tiny one beside it.
        const { models: listed } = await get("/api/v2/models");
        assert.deepEqual(
          listed.map((m: { name: string; default: boolean }) => [m.name, m.default]),
          [["sentence-transformers/all-MiniLM-L6-v2", true], ["test/tiny-bert", false]],
        );
        assert.equal(listed[1].dimension, 32);
        assert.equal(listed[0].dimension, 384);
        const model = detail.getByLabel("Embedding model");
        assert.equal(await model.locator("option").count(), 2);
        await model.selectOption("test/tiny-bert");
        await detail.getByLabel("Chunk size (tokens)").fill("32");
        await detail.getByLabel("Chunk overlap (tokens)").fill("8");
        await detail.getByRole("button", { name: "Reindex collection" }).click();
        await opRow("reindex", "completed").waitFor({ timeout: OPERATION_MS });
        const c = await get(`/api/v2/collections/${cid}`);
        assert.equal(c.embedding_model, "test/tiny-bert");
        assert.equal(c.chunk_size, 32);
        assert.equal(c.chunk_overlap, 8);
        await page.locator("#detail-summary", { hasText: "test/tiny-bert" }).waitFor();

        // Off the default model, the collection is searched by choosing it.
        await page.getByLabel("Collection", { exact: true }).selectOption({
          label: "notes (test/tiny-bert)",
        });
        const searched = page.waitForRequest((r) => r.url().endsWith("/api/v2/search"));
        await page.getByRole("button", { name: "Search", exact: true }).click();
        assert.deepEqual((await searched).postDataJSON().collection_ids, [cid]);
        await page.getByRole("button", { name: /^View zebras\.txt at chunk \d+$/ }).first()
          .waitFor();
      });

      await step("bulk cancel by filters, with the ETA of the running operation", async () => {
        const create = page.getByRole("form", { name: "New collection" });
        await create.getByLabel("Name", { exact: true }).fill("rivers");
        await create.getByLabel("Directory (absolute path inside DOCUMENT_ROOTS)").fill(big);
        await create.getByRole("button", { name: "Create" }).click();
        const running = opRow("index", "processing");
        await running.waitFor({ timeout: OPERATION_MS });
        // The ETA comes with progress events that carry `eta_seconds`.
        await running.locator("[data-eta]").waitFor({ timeout: OPERATION_MS });
        assert.match(await running.locator("[data-eta]").innerText(), /^ETA \d+/);
        await shot("running");

        const filters = page.getByRole("form", { name: "Operation filters" });
        await filters.getByLabel("processing", { exact: true }).check();
        await filters.getByLabel("Type").selectOption("index");
        const listed = page.waitForRequest((r) => r.url().includes("/api/v2/operations?"));
        await filters.getByRole("button", { name: "Apply filters" }).click();
        const query = new URL((await listed).url()).searchParams;
        assert.equal(query.get("status"), "processing");
        assert.equal(query.get("type"), "index");
        const rows = page.locator("#operations tr[data-operation]");
        await waitFor("only processing index operations", async () => {
          const types = await rows.evaluateAll((trs) =>
            trs.map((tr) => `${tr.getAttribute("data-type")}/${tr.getAttribute("data-status")}`)
          );
          return types.length > 0 && types.every((x) => x === "index/processing");
        });
        await noSideScroll("operations filtered");

        const cancel = page.waitForRequest((r) => r.url().endsWith("/api/v2/operations/cancel"));
        await filters.getByRole("button", { name: "Cancel matching operations" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Cancel operations" }).click();
        assert.deepEqual((await cancel).postDataJSON(), { status: "processing", type: "index" });
        await page.getByText("Cancelled 1 operation.").waitFor();
        await filters.getByRole("button", { name: "Clear filters" }).click();
        await opRow("index", "cancelled").waitFor({ timeout: OPERATION_MS });

        // A date filter: nothing was created after tomorrow.
        const tomorrow = new Date(Date.now() + 86_400_000);
        const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000)
          .toISOString().slice(0, 16);
        await filters.getByLabel("Created after").fill(local);
        const dated = page.waitForRequest((r) => r.url().includes("/api/v2/operations?"));
        await filters.getByRole("button", { name: "Apply filters" }).click();
        const after = new URL((await dated).url()).searchParams.get("created_after");
        assert.equal(Date.parse(after!), Date.parse(`${local}:00`));
        await page.locator("#operations", { hasText: "No operation." }).waitFor();
        await filters.getByRole("button", { name: "Clear filters" }).click();
        await opRow("index", "cancelled").waitFor();
        await shot("operations");
      });

      await step("log out: the next user sees nothing of the last one's", async () => {
        await page.getByRole("button", { name: "Log out" }).click();
        await page.locator("#auth:not(.hidden)").waitFor();
        assert.ok(await detail.isHidden(), "the open collection closes with the session");
        await page.getByLabel("Username").fill("carol");
        await page.getByLabel("Password").fill("carol-password");
        await page.getByRole("button", { name: "Register" }).click();
        await page.locator("#app:not(.hidden)").waitFor();
        await page.locator("#collections", { hasText: "No collection yet." }).waitFor();
        await page.locator("#operations", { hasText: "No operation." }).waitFor();
        assert.equal(await page.locator("#operations tr[data-operation]").count(), 0);
        assert.ok(await detail.isHidden(), "no collection is open");
      });

      assert.deepEqual(problems, [], "the browser console stays clean");
    } finally {
      // The system's own log, for a failed step (CI keeps the artifacts folder).
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await Deno.writeTextFile(join(ARTIFACTS, "manage-dev.log"), proc.lines.join("\n") + "\n");
      await browser.close();
      await proc.stop("SIGINT");
      await proc.stop("SIGKILL");
      await Deno.remove(root, { recursive: true });
    }
  },
});
