/**
 * Filling a transactional message. The same texts become the profile attributes `couponcode`
 * and `expirydate`, so a message and the profile always say the same thing.
 */

export const NO_EXPIRY_TEXT = 'no expiry';

/** `2026-12-31 23:59 UTC`: unambiguous in every locale, minutes are enough for a coupon. */
export function formatExpiry(expiresAt: Date | null): string {
  if (!expiresAt) return NO_EXPIRY_TEXT;
  const iso = expiresAt.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Replaces every `{couponcode}` and `{expirydate}`; other braces are left as written. */
export function fillMessage(body: string, code: string, expiresAt: Date | null): string {
  const expiry = formatExpiry(expiresAt);
  return body.replace(/\{(couponcode|expirydate)\}/g, (_match, name: string) => (name === 'couponcode' ? code : expiry));
}
