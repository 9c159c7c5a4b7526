// Cookie mode: tokens travel only in HttpOnly cookies, set and cleared through hono's cookie
// helper (which enforces what the __Host-/__Secure- prefixes require).
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../config';
import { ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE, REFRESH_PATH } from '../cookies';
import { timingSafeEqualString } from '../crypto/digest';
import { b64url, utf8 } from '../crypto/encoding';
import { deriveHmacKey } from '../crypto/encrypt';

const csrfKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The CSRF token of a refresh token: HMAC(K, refresh token), K derived from KEY_ENCRYPTION_KEY.
 * Binding the two means a refresh cookie planted from a sibling subdomain (the __Secure- prefix
 * allows a Domain attribute) cannot be used with the victim's CSRF token: the session cannot be
 * swapped for the attacker's. Two tabs refreshing the same parent get the same successor, hence
 * the same CSRF token.
 */
export async function csrfTokenFor(config: Config, refreshToken: string): Promise<string> {
  let key = csrfKeys.get(config.keyEncryptionKey);
  if (!key) csrfKeys.set(config.keyEncryptionKey, (key = deriveHmacKey(config.keyEncryptionKey, 'csrf-binding')));
  return b64url(new Uint8Array(await crypto.subtle.sign('HMAC', await key, utf8(refreshToken))));
}

/** A cookie-mode refresh must carry the CSRF token bound to the refresh cookie it presents. */
export async function csrfMatchesRefresh(c: Context, config: Config, refreshToken: string): Promise<boolean> {
  const header = c.req.header(CSRF_HEADER);
  if (!header || header.length > 128) return false;
  return timingSafeEqualString(header, await csrfTokenFor(config, refreshToken));
}

export interface CookieTokens {
  accessToken: string;
  accessMaxAge: number;
  refreshToken: string;
  refreshMaxAge: number;
}

export async function setSessionCookies(c: Context, config: Config, tokens: CookieTokens): Promise<void> {
  setCookie(c, ACCESS_COOKIE, tokens.accessToken, {
    prefix: 'host',
    httpOnly: true,
    sameSite: 'Lax',
    maxAge: tokens.accessMaxAge,
  });
  setCookie(c, REFRESH_COOKIE, tokens.refreshToken, {
    prefix: 'secure',
    httpOnly: true,
    sameSite: 'Strict',
    path: REFRESH_PATH,
    maxAge: tokens.refreshMaxAge,
  });
  // Readable by the page, sent back in the X-CSRF-Token header (double submit). Bound to the
  // refresh token (new at every rotation), and lives as long as it so a page can always refresh.
  setCookie(c, CSRF_COOKIE, await csrfTokenFor(config, tokens.refreshToken), {
    prefix: 'host',
    httpOnly: false,
    sameSite: 'Strict',
    maxAge: tokens.refreshMaxAge,
  });
}

export function clearSessionCookies(c: Context): void {
  deleteCookie(c, ACCESS_COOKIE, { prefix: 'host', httpOnly: true, sameSite: 'Lax' });
  deleteCookie(c, REFRESH_COOKIE, { prefix: 'secure', httpOnly: true, sameSite: 'Strict', path: REFRESH_PATH });
  deleteCookie(c, CSRF_COOKIE, { prefix: 'host', sameSite: 'Strict' });
}

export function refreshCookie(c: Context): string | undefined {
  return getCookie(c, REFRESH_COOKIE, 'secure') || undefined;
}

/** Whether the request carries any of our session cookies (ambient authority). */
export function hasSessionCookie(c: Context): boolean {
  return Boolean(getCookie(c, ACCESS_COOKIE, 'host') || getCookie(c, REFRESH_COOKIE, 'secure'));
}
