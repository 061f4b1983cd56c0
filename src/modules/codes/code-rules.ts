/** The rules every coupon code follows, for uploaded lines and FIXED codes alike. */
export const MAX_CODE_LENGTH = 64;

// Unicode white space and control characters (C0, DEL, C1), and the BOM / zero-width marks.
const WHITE_SPACE = /[\s\u200B\u2060\uFEFF]/u;
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/u;

/** Why `code` (already trimmed) is not a valid coupon code, or null when it is. */
export function codeProblem(code: string): string | null {
  if (code.length === 0) return 'the code is empty';
  if (CONTROL.test(code)) return 'contains a control character';
  if (code.includes(',')) return 'contains a comma';
  if (WHITE_SPACE.test(code)) return 'contains white space inside the code';
  const length = [...code].length;
  if (length > MAX_CODE_LENGTH) return `is ${length} characters long; at most ${MAX_CODE_LENGTH} are allowed`;
  return null;
}
