/** Character checks for values that reach command lines, headers and logs. */

/** Whether `s` holds a C0 control character or DEL. */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Whether `s` holds whitespace or a control character. */
export function hasSpaceOrControl(s: string): boolean {
  return /\s/.test(s) || hasControlChar(s);
}
