// HOTP (RFC 4226) and TOTP (RFC 6238) on WebCrypto HMAC: a few lines, no dependency in the Worker
// bundle, and the RFC 6238 appendix B vectors run against it in workerd (test/mfa-totp.test.ts).
// Base32 (RFC 4648 section 6) is the encoding authenticator apps expect in otpauth:// URIs.
import { timingSafeEqualString } from '../crypto/digest';

export type OtpHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

/** What every common authenticator app supports: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted either side of the current one: one step (30 s) of clock skew, as RFC 6238 section 5.2 suggests. */
export const TOTP_SKEW_STEPS = 1;
/** 160-bit secrets: the HMAC-SHA-1 block-size recommendation of RFC 4226 section 4. */
export const TOTP_SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Throws on characters outside the alphabet; spaces and padding are ignored, case too. */
export function base32Decode(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error('not base32');
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

export function generateTotpSecret(): string {
  return base32Encode(crypto.getRandomValues(new Uint8Array(TOTP_SECRET_BYTES)));
}

/** RFC 4226 section 5.3: HMAC over the 8-byte counter, dynamic truncation, `digits` decimal digits. */
export async function hotp(key: Uint8Array<ArrayBuffer>, counter: number, digits = TOTP_DIGITS, hash: OtpHash = 'SHA-1'): Promise<string> {
  const message = new Uint8Array(8);
  const view = new DataView(message.buffer);
  view.setUint32(0, Math.floor(counter / 2 ** 32));
  view.setUint32(4, counter >>> 0);
  const hmacKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, message));
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 section 4: T = floor((now - T0) / X), T0 = 0. */
export function timeStep(now: number, period = TOTP_PERIOD): number {
  return Math.floor(now / period);
}

export function totp(key: Uint8Array<ArrayBuffer>, now: number, options: { digits?: number; hash?: OtpHash; period?: number } = {}): Promise<string> {
  return hotp(key, timeStep(now, options.period), options.digits, options.hash);
}

/**
 * The time step `code` matches within the skew window, or undefined. Every candidate step is
 * computed and compared in constant time, so the timing tells nothing about which one matched.
 * Steps at or before `after` (the last step accepted) are not candidates: a code is used once.
 */
export async function matchTotp(secret: string, code: string, now: number, after: number): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code)) return undefined;
  const key = base32Decode(secret);
  const current = timeStep(now);
  let matched: number | undefined;
  for (let step = current - TOTP_SKEW_STEPS; step <= current + TOTP_SKEW_STEPS; step++) {
    const ok = timingSafeEqualString(await hotp(key, step), code);
    if (ok && step > after && matched === undefined) matched = step;
  }
  return matched;
}

/** The otpauth:// URI of Google Authenticator's key-uri format, which every authenticator app reads. */
export function otpauthUri(secret: string, issuer: string, account: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const params = new URLSearchParams({ secret, issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_PERIOD) });
  return `otpauth://totp/${label}?${params.toString()}`;
}
