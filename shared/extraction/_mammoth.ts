/**
 * mammoth (mwilliamson/mammoth.js, BSD-2-Clause): DOCX to HTML, made to run under Deno.
 *
 * Why the patch: mammoth wraps each result in an `ExternalPromise` whose prototype chain it sets
 * with `__proto__` assignments. Deno removes `Object.prototype.__proto__`, so in Deno every call
 * throws "ExternalPromise.resolve is not a function". The wrapper only adds a deprecated
 * `.done()`; returning the native promise it wraps is mammoth's own behaviour minus that method.
 * mammoth calls `promises.toExternalPromise` through the module's exports object, so replacing
 * the export is enough and touches nothing global.
 */
import mammoth from "mammoth";
import mammothPromises from "mammoth/lib/promises.js";

(mammothPromises as { toExternalPromise: (p: Promise<unknown>) => Promise<unknown> })
  .toExternalPromise = (promise) => Promise.resolve(promise);

export { mammoth };
