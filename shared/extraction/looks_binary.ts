/**
 * The binary check: what the `file` utility and Git do, a look at the start of the content for
 * NUL or a high share of control characters. Text of any script passes, because only C0
 * controls count, and those are rare in real text.
 */

/** How much of the content the check looks at; enough for a verdict, cheap for huge files. */
export const BINARY_SAMPLE_SIZE = 8192;

/** Above this share of control characters in the sample, content is binary. */
const MAX_CONTROL_SHARE = 0.1;

/**
 * Whether content looks binary: a NUL, or more than 10% control characters, in the first
 * {@link BINARY_SAMPLE_SIZE} bytes (or UTF-16 code units for a decoded string). Tab, newline,
 * carriage return, form feed, vertical tab, backspace and escape count as text: they occur in
 * logs, man pages and terminal captures.
 */
export function looksBinary(content: Uint8Array | string): boolean {
  const length = Math.min(content.length, BINARY_SAMPLE_SIZE);
  if (length === 0) return false;
  let controls = 0;
  for (let i = 0; i < length; i++) {
    const c = typeof content === "string" ? content.charCodeAt(i) : content[i]!;
    if (c === 0) return true;
    if ((c < 0x20 && !TEXT_CONTROLS.has(c)) || c === 0x7f) controls++;
  }
  return controls / length > MAX_CONTROL_SHARE;
}

const TEXT_CONTROLS = new Set([0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1b]);
