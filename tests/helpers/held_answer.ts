/**
 * Holds one answer the page is waiting for, so a browser test can make an older answer arrive
 * after a newer one, as answers on different connections can:
 *
 * ```ts
 * const list = await holdAnswer(page, "**\/api/v2/collections?limit=100", { nth: 2 });
 * // ... the page asks again and shows the newer answer ...
 * await list.release(); // the older answer arrives last; then check what the page shows
 * ```
 *
 * The request is passed to the server when the page makes it (the answer is the state of that
 * moment); only its delivery to the page waits for {@link HeldAnswer.release}.
 */
import assert from "node:assert/strict";
import type { Page, Request } from "playwright-core";
import { WAIT_MS } from "@semantik/shared/testing";

/** Which request to hold. */
export interface HoldOptions {
  /** Its method. @default {"GET"} */
  method?: string;
  /** The how-manyth request of that method to the URL, from 1. @default {1} */
  nth?: number;
}

export interface HeldAnswer {
  /** The request held, once the page made it. */
  readonly request: Request | undefined;
  /** Resolves once the page has made the request (its answer still held). */
  made(): Promise<Request>;
  /**
   * Delivers the held answer and resolves once the page has handled it: the answer received
   * whole, then the page's tasks queued by then run.
   */
  release(): Promise<void>;
}

/** Holds the answer to the `nth` request of `method` to `url` (a playwright route pattern). */
export async function holdAnswer(
  page: Page,
  url: string,
  { method = "GET", nth = 1 }: HoldOptions = {},
): Promise<HeldAnswer> {
  let seen = 0;
  let request: Request | undefined;
  const madeOnce = Promise.withResolvers<Request>();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  await page.route(url, async (route) => {
    if (route.request().method() !== method || ++seen !== nth) return await route.fallback();
    request = route.request();
    madeOnce.resolve(request);
    const response = await route.fetch();
    await gate;
    await route.fulfill({ response });
  });
  return {
    get request() {
      return request;
    },
    made() {
      return withDeadline(madeOnce.promise, `request ${nth} of ${method} ${url}`);
    },
    async release() {
      assert.ok(request, `the page never made request ${nth} of ${method} ${url} to hold`);
      const answered = page.waitForResponse((r) => r.request() === request, { timeout: WAIT_MS });
      open();
      await (await answered).finished();
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    },
  };
}

/** `promise`, or a rejection saying what was awaited once {@link WAIT_MS} passed. */
function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the page never made ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
