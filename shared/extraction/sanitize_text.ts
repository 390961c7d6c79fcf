/**
 * Makes extracted text safe to store and easy to chunk. Postgres text columns reject NUL, and
 * lone surrogates cannot be encoded as UTF-8; the chunker only has to know `\n` as a line end.
 */

// deno-lint-ignore no-control-regex
const ANSI_ESCAPE = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000e-\u001f\u007f-\u009f]/g;

/**
 * Normalises line ends to `\n`, drops NUL and terminal colour codes, turns other control
 * characters (tab and form feed excepted) into spaces, and replaces lone surrogates with U+FFFD.
 */
export function sanitizeText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(ANSI_ESCAPE, "")
    .replace(CONTROL, (c) => (c === "\u0000" ? "" : " "))
    .toWellFormed();
}
