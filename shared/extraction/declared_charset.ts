/**
 * The character set an HTML page declares for itself. Pages in legacy encodings (windows-1251,
 * Shift_JIS, GBK) are not UTF-8, and Latin-1, the fallback for other text, would garble them.
 */

/** How far into the page the declaration is looked for; HTML requires it in the first 1024. */
const PRESCAN_BYTES = 1024;
const META_CHARSET = /<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)/i;

/**
 * The encoding label of a `<meta charset>` (or `http-equiv` content type) declaration in the
 * first 1024 bytes, when TextDecoder supports it; otherwise undefined.
 */
export function declaredCharset(bytes: Uint8Array): string | undefined {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, PRESCAN_BYTES));
  const label = META_CHARSET.exec(head)?.[1];
  if (label === undefined) return undefined;
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return undefined;
  }
}
