import { b64url, utf8 } from './encoding';

/** SHA-256 of a string as base64url: how refresh tokens are keyed, never stored raw. */
export async function sha256(text: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(text))));
}

/**
 * Constant-time equality for secrets and digests: compares every byte whatever the first
 * difference, so timing reveals only the lengths (which are public here).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function timingSafeEqualString(a: string, b: string): boolean {
  return timingSafeEqual(utf8(a), utf8(b));
}
