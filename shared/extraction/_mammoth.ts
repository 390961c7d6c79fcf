/**
 * mammoth (mwilliamson/mammoth.js, BSD-2-Clause): DOCX to HTML, made to run under Deno and
 * loaded on first use (it takes about 200 ms to load, which processes that never read a DOCX,
 * such as the API, should not pay).
 *
 * Why the patch: mammoth wraps each result in an `ExternalPromise` whose prototype chain it sets
 * with `__proto__` assignments. Deno removes `Object.prototype.__proto__`, so in Deno every call
 * throws "ExternalPromise.resolve is not a function". The wrapper only adds a deprecated
 * `.done()`; returning the native promise it wraps is mammoth's own behaviour minus that method.
 * mammoth calls `promises.toExternalPromise` through the module's exports object, so replacing
 * the export is enough and touches nothing global. (Deno then appends a `--unsafe-proto` hint
 * to uncaught errors, because mammoth did try to assign `__proto__`; the hint can be ignored.)
 */
import type mammothModule from "mammoth";

type Mammoth = typeof mammothModule;

let loading: Promise<Mammoth> | undefined;

export function loadMammoth(): Promise<Mammoth> {
  loading ??= (async () => {
    const [{ default: mammoth }, { default: promises }] = await Promise.all([
      import("mammoth"),
      import("mammoth/lib/promises.js"),
    ]);
    (promises as { toExternalPromise: (p: Promise<unknown>) => Promise<unknown> })
      .toExternalPromise = (promise) => Promise.resolve(promise);
    return mammoth;
  })();
  return loading;
}
